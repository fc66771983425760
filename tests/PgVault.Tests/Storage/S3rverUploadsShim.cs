using System.Net;
using System.Security;
using System.Text;
using System.Web;

namespace PgVault.Tests.Storage;

/// <summary>
/// s3rver 3.7.1 implements multipart uploads but neither AbortMultipartUpload (405) nor
/// ListMultipartUploads (501). This handler, in front of the store's HTTP stack in tests, answers
/// those two calls as S3 does, once s3rver has refused them, from s3rver's own upload directories
/// (<c>DIR/BUCKET/._S3rver_uploads/UPLOAD-ID/{key,1,2,...}</c>), so the tests can check that a
/// writer aborts what it started and that nothing is left behind. Everything else passes through.
/// </summary>
internal sealed class S3rverUploadsShim(string dataDirectory, string bucket, HttpMessageHandler inner) : DelegatingHandler(inner)
{
    private string UploadsDirectory => Path.Combine(dataDirectory, bucket, "._S3rver_uploads");

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        // The request goes to s3rver first, so a stopped server fails these calls as it fails any other.
        var response = await base.SendAsync(request, cancellationToken);
        if (response.StatusCode is not (HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented)) return response;
        var uri = request.RequestUri!;
        var query = HttpUtility.ParseQueryString(uri.Query);
        string path = Uri.UnescapeDataString(uri.AbsolutePath);
        string bucketPath = "/" + bucket;
        if (request.Method == HttpMethod.Delete && query["uploadId"] is { } uploadId && path.StartsWith(bucketPath + "/", StringComparison.Ordinal))
        {
            response.Dispose();
            return Abort(path[(bucketPath.Length + 1)..], uploadId);
        }
        if (request.Method == HttpMethod.Get && path.TrimEnd('/') == bucketPath && (query.GetValues(null)?.Contains("uploads") ?? false))
        {
            response.Dispose();
            return List(query["prefix"] ?? "");
        }
        return response;
    }

    private HttpResponseMessage Abort(string key, string uploadId)
    {
        string directory = Path.Combine(UploadsDirectory, uploadId);
        if (uploadId.Contains('/') || !Directory.Exists(directory) || File.ReadAllText(Path.Combine(directory, "key")) != key)
        {
            return Xml(HttpStatusCode.NotFound,
                "<Error><Code>NoSuchUpload</Code><Message>The specified multipart upload does not exist.</Message></Error>");
        }
        Directory.Delete(directory, recursive: true);
        return new HttpResponseMessage(HttpStatusCode.NoContent) { Content = new ByteArrayContent([]) };
    }

    private HttpResponseMessage List(string prefix)
    {
        var xml = new StringBuilder();
        xml.Append("<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
        xml.Append($"<Bucket>{bucket}</Bucket><Prefix>{SecurityElement.Escape(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>");
        if (Directory.Exists(UploadsDirectory))
        {
            foreach (var directory in new DirectoryInfo(UploadsDirectory).EnumerateDirectories().OrderBy(d => d.Name, StringComparer.Ordinal))
            {
                string keyFile = Path.Combine(directory.FullName, "key");
                if (!File.Exists(keyFile)) continue;
                string key = File.ReadAllText(keyFile);
                if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
                xml.Append($"<Upload><Key>{SecurityElement.Escape(key)}</Key><UploadId>{directory.Name}</UploadId>");
                xml.Append($"<Initiated>{directory.CreationTimeUtc:yyyy-MM-ddTHH:mm:ss.fffZ}</Initiated><StorageClass>STANDARD</StorageClass></Upload>");
            }
        }
        xml.Append("</ListMultipartUploadsResult>");
        return Xml(HttpStatusCode.OK, xml.ToString());
    }

    private static HttpResponseMessage Xml(HttpStatusCode status, string body) =>
        new(status) { Content = new StringContent("<?xml version=\"1.0\" encoding=\"UTF-8\"?>" + body, Encoding.UTF8, "application/xml") };
}
