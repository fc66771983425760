using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.S3;
using PgVault.Core.Errors;

namespace PgVault.Core.Storage;

/// <summary>
/// Turns what the AWS SDK throws (after its own retries) into one <see cref="PgVaultException"/>:
/// <c>S3 repository 'offsite': PUT 'pgvault/clusters/x/...' failed: 403 AccessDenied (Access Denied)</c>,
/// <c>S3 repository 'offsite': bucket 'b' does not exist at http://host:port</c>, or
/// <c>S3 repository 'offsite': unable to reach http://host:port: Connection refused</c>.
/// Messages carry keys, codes and the server's text, never credentials.
/// </summary>
internal static class S3Errors
{
    internal const string NoSuchBucket = "NoSuchBucket";

    /// <summary>True for failures to translate; false for ours and for the caller's own cancellation.</summary>
    public static bool IsTranslatable(Exception e, CancellationToken ct) => e switch
    {
        PgVaultException or ObjectNotFoundException => false,
        OperationCanceledException when ct.IsCancellationRequested => false,
        AmazonServiceException or AmazonClientException or HttpRequestException or IOException or SocketException => true,
        OperationCanceledException or TimeoutException => true, // HttpClient's timeout
        _ => false,
    };

    public static PgVaultException Translate(S3ObjectStore store, string operation, string key, Exception e)
    {
        string repo = $"S3 repository '{store.Name}'";
        if (e is AmazonS3Exception { ErrorCode: NoSuchBucket })
        {
            return new PgVaultException(ErrorCode.RepositoryUnreachable, $"{repo}: bucket '{store.Bucket}' does not exist at {store.Endpoint}",
                "create the bucket, or fix 'bucket' and 'endpoint' in the repository's configuration", inner: e);
        }
        if (e is AmazonServiceException { StatusCode: >= (HttpStatusCode)100 } service && !IsNetwork(e))
        {
            int status = (int)service.StatusCode;
            string code = string.IsNullOrEmpty(service.ErrorCode) ? service.StatusCode.ToString() : service.ErrorCode;
            string detail = string.IsNullOrWhiteSpace(service.Message) || service.Message == code ? "" : $" ({OneLine(service.Message)})";
            return new PgVaultException(CodeFor(status), $"{repo}: {operation} '{key}' failed: {status} {code}{detail}", HintFor(status, code, store), inner: e);
        }
        if (Find<HttpRequestException>(e) is { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError } unreachable)
        {
            string hint = unreachable.HttpRequestError == HttpRequestError.SecureConnectionError
                ? "check the server's certificate; for a server with a self-signed certificate set 'verify_tls: false'"
                : "check 'endpoint' in the repository's configuration and that the server is running";
            return new PgVaultException(ErrorCode.RepositoryUnreachable, $"{repo}: unable to reach {store.Endpoint}: {Reason(e)}", hint, inner: e);
        }
        if (IsNetwork(e))
        {
            return new PgVaultException(ErrorCode.RepositoryUnreachable, $"{repo}: {operation} '{key}' failed: connection to {store.Endpoint} lost: {Reason(e)}",
                "check the network and the server, then run the command again", inner: e);
        }
        if (e is AmazonClientException && e.Message.Contains("credential", StringComparison.OrdinalIgnoreCase))
        {
            return new PgVaultException(ErrorCode.RepositoryAccessDenied, $"{repo}: no usable credentials: {OneLine(e.Message)}",
                "set access_key_id_env and secret_access_key_env in the repository's configuration, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use ~/.aws/credentials", inner: e);
        }
        return new PgVaultException(ErrorCode.IoFailed, $"{repo}: {operation} '{key}' failed: {OneLine(e.Message)}", inner: e);
    }

    private static ErrorCode CodeFor(int status) => status switch
    {
        401 or 403 => ErrorCode.RepositoryAccessDenied,
        404 => ErrorCode.ObjectMissing,
        >= 500 => ErrorCode.RepositoryUnreachable,
        _ => ErrorCode.IoFailed,
    };

    private static string? HintFor(int status, string code, S3ObjectStore store) => (status, code) switch
    {
        (403, _) or (_, "InvalidAccessKeyId" or "SignatureDoesNotMatch") =>
            $"check the credentials and that they may use bucket '{store.Bucket}'",
        (301, _) or (_, "AuthorizationHeaderMalformed" or "PermanentRedirect" or "IllegalLocationConstraintException") =>
            "check 'region' (and 'endpoint') in the repository's configuration",
        ( >= 500, _) => "the server kept failing after several retries; try again later",
        _ => null,
    };

    private static bool IsNetwork(Exception e) =>
        Find<HttpRequestException>(e) is not null || Find<SocketException>(e) is not null || Find<IOException>(e) is not null
        || Find<TimeoutException>(e) is not null || e is OperationCanceledException;

    private static string Reason(Exception e)
    {
        if (Find<SocketException>(e) is { } socket) return socket.Message;
        if (Find<System.Security.Authentication.AuthenticationException>(e) is { } tls) return OneLine(tls.Message); // the certificate's fault
        if (Find<TimeoutException>(e) is not null || e is OperationCanceledException) return "no answer in time";
        if (Find<IOException>(e) is { } io) return OneLine(io.Message);
        return OneLine((Find<HttpRequestException>(e) ?? e).Message);
    }

    private static T? Find<T>(Exception e) where T : Exception
    {
        for (Exception? current = e; current is not null; current = current.InnerException)
        {
            if (current is T found) return found;
        }
        return null;
    }

    private static string OneLine(string text)
    {
        string line = text.ReplaceLineEndings(" ").Trim();
        return line.Length <= 300 ? line : line[..300] + "...";
    }
}
