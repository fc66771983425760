using System.Net;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using PgVault.Core.Errors;

namespace PgVault.Core.Storage;

/// <summary>
/// The AWS SDK client for one S3 repository and the one <see cref="HttpClient"/> under it. Here are
/// the limits that keep a dead endpoint from hanging a command: 5 s to connect, 4 retries with the
/// SDK's standard (jittered exponential) backoff, and a per-request timeout that grows with the
/// part size (a part must move at 256 KiB/s or better).
/// </summary>
internal sealed class S3Client : IDisposable
{
    internal const int MaxRetries = 4;
    internal static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
    private const int MinimumBytesPerSecond = 256 * 1024;

    private readonly HttpClient _http;

    private S3Client(AmazonS3Client client, HttpClient http, string endpoint)
    {
        Client = client;
        _http = http;
        Endpoint = endpoint;
    }

    public AmazonS3Client Client { get; }

    /// <summary>The service URL, for messages.</summary>
    public string Endpoint { get; }

    public static S3Client Create(string repository, S3Settings settings, Func<HttpMessageHandler, HttpMessageHandler>? wrapHandler)
    {
        long partBytes = (long)settings.PartSizeMb * 1024 * 1024;
        var timeout = TimeSpan.FromSeconds(Math.Max(120, partBytes / MinimumBytesPerSecond));
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        if (!settings.VerifyTls)
        {
            // Only reachable with an explicit 'verify_tls: false' and an https endpoint (ConfigLoader).
            handler.SslOptions.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
        }
        var http = new HttpClient(wrapHandler is null ? handler : wrapHandler(handler)) { Timeout = timeout };

        var config = new AmazonS3Config
        {
            ForcePathStyle = settings.PathStyle,
            RetryMode = RequestRetryMode.Standard,
            MaxErrorRetry = MaxRetries,
            HttpClientFactory = new SingleClientFactory(http),
            BufferSize = 64 * 1024,
        };
        string endpoint;
        if (settings.Endpoint is { } url)
        {
            config.ServiceURL = url;
            config.AuthenticationRegion = settings.Region;
            endpoint = url;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(settings.Region);
            endpoint = $"https://s3.{settings.Region}.amazonaws.com";
        }

        try
        {
            var client = settings.AccessKeyIdEnv is { } idVariable && settings.SecretAccessKeyEnv is { } secretVariable
                ? new AmazonS3Client(new BasicAWSCredentials(Variable(repository, idVariable, "access_key_id_env"), Variable(repository, secretVariable, "secret_access_key_env")), config)
                : new AmazonS3Client(config);
            return new S3Client(client, http, endpoint);
        }
        catch
        {
            http.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Client.Dispose();
        _http.Dispose();
    }

    private static string Variable(string repository, string variable, string key)
    {
        string? value = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(value))
            throw new PgVaultException(ErrorCode.ConfigInvalid,
                $"S3 repository '{repository}': environment variable {variable} (named by {key}) is not set",
                $"export {variable} before running pgvault, or remove access_key_id_env and secret_access_key_env to use the AWS default credentials");
        return value;
    }

    /// <summary>Hands the SDK our one client; the SDK neither caches nor disposes it.</summary>
    private sealed class SingleClientFactory(HttpClient http) : HttpClientFactory
    {
        public override HttpClient CreateHttpClient(IClientConfig clientConfig) => http;

        public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => false;

        public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;
    }
}
