using PgVault.Core.Errors;
using System.Buffers;
using System.Net;
using System.Runtime.CompilerServices;
using Amazon.S3;
using Amazon.S3.Model;

namespace PgVault.Core.Storage;

/// <summary>
/// An object store in an S3 bucket (AWS or an S3-compatible server), below an optional key prefix.
/// A writer buffers up to one part in pooled memory: an object that fits in one part is sent with a
/// single PutObject at commit, a larger one as a multipart upload with up to
/// <see cref="S3Settings.UploadConcurrency"/> parts in flight (memory: part size × (concurrency + 1)),
/// completed at commit and aborted when the writer is disposed uncommitted. Both are atomic on S3.
/// Transient failures (timeouts, resets, 500, 503, SlowDown) are retried by the SDK (standard mode,
/// bounded); anything else becomes one <see cref="Errors.PgVaultException"/> naming the repository,
/// operation, key and status (see <see cref="S3Errors"/>).
/// </summary>
public sealed partial class S3ObjectStore : IObjectStore
{
    private readonly IAmazonS3 _client;
    private readonly S3Client _owned;
    private readonly string _bucket;
    private readonly string _prefix;
    private readonly int _partSize;
    private readonly int _concurrency;
    private readonly S3Settings _settings;
    private readonly ArrayPool<byte> _buffers;
    private int _bucketConfirmed;

    /// <summary>Opens the store; credentials come from the named variables or the AWS default chain.</summary>
    public S3ObjectStore(string name, S3Settings settings)
        : this(name, settings, S3Client.Create(name, settings, wrapHandler: null))
    {
    }

    /// <summary>For tests: <paramref name="wrapHandler"/> may put a handler in front of the HTTP stack.</summary>
    internal S3ObjectStore(string name, S3Settings settings, Func<HttpMessageHandler, HttpMessageHandler> wrapHandler)
        : this(name, settings, S3Client.Create(name, settings, wrapHandler))
    {
    }

    private S3ObjectStore(string name, S3Settings settings, S3Client client)
    {
        Name = name;
        _settings = settings;
        _owned = client;
        _client = client.Client;
        _bucket = settings.Bucket;
        string? prefix = S3Settings.NormalisePrefix(settings.Prefix);
        if (prefix is null)
        {
            client.Dispose();
            throw new ArgumentException($"invalid S3 prefix '{settings.Prefix}'", nameof(settings));
        }
        _prefix = prefix;
        _partSize = checked(Math.Clamp(settings.PartSizeMb, S3Settings.MinPartSizeMb, S3Settings.MaxPartSizeMb) * 1024 * 1024);
        _concurrency = Math.Clamp(settings.UploadConcurrency, 1, S3Settings.MaxUploadConcurrency);
        // Private pool: the part buffers go away with the store instead of lingering in the shared pool.
        _buffers = ArrayPool<byte>.Create(_partSize, maxArraysPerBucket: 2 * (_concurrency + 1));
        Endpoint = client.Endpoint;
    }

    public string Name { get; }

    /// <summary>The service URL the store talks to (for messages).</summary>
    public string Endpoint { get; }

    /// <summary><c>https://host:port/bucket/prefix/</c> for a configured endpoint, <c>s3://bucket/prefix/</c> on AWS.</summary>
    public string Location => _settings.Endpoint is null ? $"s3://{_bucket}/{_prefix}" : $"{Endpoint}/{_bucket}/{_prefix}";

    public Task<ObjectWriter> OpenWriteAsync(string key, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return Task.FromResult<ObjectWriter>(new Writer(this, ObjectKey(key)));
    }

    public async Task<Stream> OpenReadAsync(string key, CancellationToken ct)
    {
        string objectKey = ObjectKey(key);
        GetObjectResponse response;
        try
        {
            response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = objectKey }, ct).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != S3Errors.NoSuchBucket)
        {
            throw new ObjectNotFoundException(Name, key);
        }
        catch (Exception e) when (S3Errors.IsTranslatable(e, ct))
        {
            throw S3Errors.Translate(this, "GET", objectKey, e);
        }
        return new ReadStream(this, objectKey, response);
    }

    public async Task<ObjectInfo?> StatAsync(string key, CancellationToken ct)
    {
        string objectKey = ObjectKey(key);
        try
        {
            var response = await _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _bucket, Key = objectKey }, ct).ConfigureAwait(false);
            return new ObjectInfo(key, response.ContentLength, ToOffset(response.LastModified));
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != S3Errors.NoSuchBucket)
        {
            // A HEAD answer has no body: a missing bucket looks like a missing key. Tell them apart once.
            await ConfirmBucketAsync(ct).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (S3Errors.IsTranslatable(e, ct))
        {
            throw S3Errors.Translate(this, "HEAD", objectKey, e);
        }
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken ct)
    {
        if (prefix.StartsWith('/') || prefix.Split('/').Any(part => part is "." or ".."))
            throw new ArgumentException($"invalid prefix '{prefix}'", nameof(prefix));
        // AWS lists in UTF-8 byte order, but S3-compatible servers need not (s3rver walks its
        // directories), and UTF-8 order differs from ordinal order beyond U+D7FF: collect the pages
        // (as the filesystem store collects its walk) and sort, so every server keeps the contract.
        var objects = new List<ObjectInfo>();
        string? token = null;
        do
        {
            var page = await ListPageAsync(_prefix + prefix, token, ct).ConfigureAwait(false);
            foreach (var entry in page.S3Objects ?? [])
            {
                if (entry.Key.EndsWith('/') || !entry.Key.StartsWith(_prefix, StringComparison.Ordinal)) continue; // "folder" markers
                objects.Add(new ObjectInfo(entry.Key[_prefix.Length..], entry.Size ?? 0, ToOffset(entry.LastModified)));
            }
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        objects.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var info in objects)
        {
            yield return info;
        }
    }

    public async Task DeleteAsync(string key, CancellationToken ct)
    {
        string objectKey = ObjectKey(key);
        try
        {
            await _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _bucket, Key = objectKey }, ct).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != S3Errors.NoSuchBucket)
        {
            // already gone
        }
        catch (Exception e) when (S3Errors.IsTranslatable(e, ct))
        {
            throw S3Errors.Translate(this, "DELETE", objectKey, e);
        }
    }

    /// <summary>Keys per DeleteObjects request (the S3 limit is 1000).</summary>
    internal const int DeleteBatch = 1000;

    public async Task DeleteManyAsync(IReadOnlyList<string> keys, CancellationToken ct)
    {
        for (int start = 0; start < keys.Count; start += DeleteBatch)
        {
            var batch = keys.Skip(start).Take(DeleteBatch).Select(ObjectKey).ToList();
            DeleteObjectsResponse response;
            try
            {
                response = await _client.DeleteObjectsAsync(new DeleteObjectsRequest
                {
                    BucketName = _bucket, Quiet = true, Objects = batch.Select(k => new KeyVersion { Key = k }).ToList(),
                }, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (S3Errors.IsTranslatable(e, ct))
            {
                throw S3Errors.Translate(this, "DELETE (batch)", batch[0], e);
            }
            if (response.DeleteErrors is { Count: > 0 } errors && errors.FirstOrDefault(e => e.Code != "NoSuchKey") is { } failed)
            {
                throw new PgVaultException(ErrorCode.IoFailed, $"repository '{Name}': deleting {failed.Key} failed: {failed.Code} {failed.Message} ({errors.Count} of {batch.Count} keys of the batch failed)",
                    "run the command again: it continues where it stopped");
            }
        }
    }

    /// <summary>Multipart uploads left under the prefix (by crashed writers), oldest first.</summary>
    public async Task<IReadOnlyList<(string Key, string UploadId, DateTimeOffset Initiated)>> ListUnfinishedUploadsAsync(CancellationToken ct)
    {
        var uploads = new List<(string, string, DateTimeOffset)>();
        string? keyMarker = null, idMarker = null;
        while (true)
        {
            ListMultipartUploadsResponse page;
            try
            {
                page = await _client.ListMultipartUploadsAsync(new ListMultipartUploadsRequest
                {
                    BucketName = _bucket,
                    Prefix = _prefix,
                    KeyMarker = keyMarker,
                    UploadIdMarker = idMarker,
                }, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (S3Errors.IsTranslatable(e, ct))
            {
                throw S3Errors.Translate(this, "LIST UPLOADS", _prefix, e);
            }
            foreach (var upload in page.MultipartUploads ?? [])
            {
                uploads.Add((upload.Key[_prefix.Length..], upload.UploadId, ToOffset(upload.Initiated)));
            }
            if (page.IsTruncated != true) break;
            keyMarker = page.NextKeyMarker;
            idMarker = page.NextUploadIdMarker;
        }
        uploads.Sort((a, b) => a.Item3.CompareTo(b.Item3));
        return uploads;
    }

    /// <summary>Aborts one unfinished multipart upload (see <see cref="ListUnfinishedUploadsAsync"/>).</summary>
    public async Task AbortUploadAsync(string key, string uploadId, CancellationToken ct)
    {
        string objectKey = ObjectKey(key);
        try
        {
            await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _bucket, Key = objectKey, UploadId = uploadId }, ct).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound && e.ErrorCode != S3Errors.NoSuchBucket)
        {
            // already gone
        }
        catch (Exception e) when (S3Errors.IsTranslatable(e, ct))
        {
            throw S3Errors.Translate(this, "ABORT", objectKey, e);
        }
    }

    public ValueTask DisposeAsync()
    {
        _owned.Dispose();
        return ValueTask.CompletedTask;
    }

    internal string Bucket => _bucket;

    private async Task<ListObjectsV2Response> ListPageAsync(string prefix, string? token, CancellationToken ct)
    {
        try
        {
            return await _client.ListObjectsV2Async(new ListObjectsV2Request
            {
                BucketName = _bucket,
                Prefix = prefix,
                ContinuationToken = token,
            }, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (S3Errors.IsTranslatable(e, ct))
        {
            throw S3Errors.Translate(this, "LIST", prefix, e);
        }
    }

    private async Task ConfirmBucketAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _bucketConfirmed) != 0) return;
        try
        {
            await _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _bucket, Prefix = _prefix, MaxKeys = 1 }, ct).ConfigureAwait(false);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode == S3Errors.NoSuchBucket)
        {
            throw S3Errors.Translate(this, "LIST", _prefix, e);
        }
        catch (AmazonS3Exception)
        {
            // No permission to list (or another answer from S3): the bucket is there, which is all we ask.
        }
        catch (Exception e) when (S3Errors.IsTranslatable(e, ct))
        {
            throw S3Errors.Translate(this, "LIST", _prefix, e);
        }
        Volatile.Write(ref _bucketConfirmed, 1);
    }

    private string ObjectKey(string key)
    {
        if (key.Length == 0 || key.StartsWith('/') || key.Split('/').Any(part => part is "" or "." or ".."))
            throw new ArgumentException($"invalid object key '{key}'", nameof(key));
        return _prefix + key;
    }

    private static DateTimeOffset ToOffset(DateTime? time) =>
        time is { } t ? new DateTimeOffset(DateTime.SpecifyKind(t.ToUniversalTime(), DateTimeKind.Utc)) : default;
}
