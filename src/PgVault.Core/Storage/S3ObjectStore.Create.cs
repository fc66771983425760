using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using PgVault.Core.Errors;

namespace PgVault.Core.Storage;

/// <summary>
/// Create-if-absent on S3. Where the server honours <c>If-None-Match: *</c> on PutObject (AWS since
/// 2024, MinIO, Ceph RGW), one conditional put decides (412, or 409 for a concurrent conditional
/// write, means taken). Whether it does is probed once per store: a private probe key is put twice
/// with the header; a second success means the server ignores it (s3rver does). Then a fallback that
/// needs only strongly consistent listing (as S3 has since 2020) is used: each contender puts
/// <c>KEY.cand.TIME.RANDOM</c>, lists <c>KEY.cand.</c>, and wins only when it sees no other
/// candidate and KEY is absent; on contention every contender deletes its candidate and retries
/// after a random pause; the winner puts KEY and then deletes its candidate. Candidates left by a
/// killed contender are ignored and removed once <see cref="CandidateLifetime"/> older than ours.
/// </summary>
public sealed partial class S3ObjectStore
{
    internal const string CandidateMarker = ".cand.";
    private static readonly TimeSpan CandidateLifetime = TimeSpan.FromMinutes(2);
    private const int CandidateAttempts = 12;
    private int _conditionalPuts; // 0 unknown, 1 supported, 2 not supported

    /// <summary>For tests: whether the server honours conditional puts (probing it once).</summary>
    internal async Task<bool> SupportsConditionalPutAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _conditionalPuts) == 0)
        {
            string probe = $".pgvault-probe/conditional-put-{Guid.NewGuid():N}";
            bool first = await ConditionalPutAsync(probe, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
            bool second = await ConditionalPutAsync(probe, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
            await DeleteAsync(probe, ct).ConfigureAwait(false);
            Volatile.Write(ref _conditionalPuts, first && !second ? 1 : 2);
        }
        return _conditionalPuts == 1;
    }

    public async Task<bool> TryCreateAsync(string key, ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        ObjectKey(key); // validates
        if (await SupportsConditionalPutAsync(ct).ConfigureAwait(false))
            return await ConditionalPutAsync(key, bytes, ct).ConfigureAwait(false);
        return await CreateByCandidatesAsync(key, bytes, ct).ConfigureAwait(false);
    }

    /// <summary>PutObject with If-None-Match: *; false when the server says the key exists.</summary>
    private async Task<bool> ConditionalPutAsync(string key, ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        string objectKey = ObjectKey(key);
        for (int attempt = 0; ; attempt++)
        {
            using var body = new MemoryStream(bytes.ToArray(), writable: false);
            var request = new PutObjectRequest
            {
                BucketName = _bucket,
                Key = objectKey,
                InputStream = body,
                ContentType = ContentType,
                UseChunkEncoding = false,
                IfNoneMatch = "*",
            };
            ApplyEncryption(request);
            try
            {
                await _client.PutObjectAsync(request, ct).ConfigureAwait(false);
                return true;
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.PreconditionFailed)
            {
                return false;
            }
            catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.Conflict && attempt < CandidateAttempts)
            {
                // ConditionalRequestConflict: another conditional write of the key is in flight; ask again.
                await Task.Delay(RandomPause(attempt), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (S3Errors.IsTranslatable(e, ct))
            {
                throw S3Errors.Translate(this, "PUT (if absent)", objectKey, e);
            }
        }
    }

    private async Task<bool> CreateByCandidatesAsync(string key, ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        string candidatePrefix = key + CandidateMarker;
        for (int attempt = 0; attempt < CandidateAttempts; attempt++)
        {
            if (await StatAsync(key, ct).ConfigureAwait(false) != null) return false;
            string mine = candidatePrefix + DateTime.UtcNow.Ticks.ToString("D19", CultureInfo.InvariantCulture) + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
            await this.PutAsync(mine, ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
            bool won = false;
            try
            {
                var candidates = new List<ObjectInfo>();
                await foreach (var info in ListAsync(candidatePrefix, ct).ConfigureAwait(false)) candidates.Add(info);
                var own = candidates.FirstOrDefault(c => c.Key == mine);
                bool contended = false;
                foreach (var other in candidates.Where(c => c.Key != mine))
                {
                    if (own != null && own.LastModified - other.LastModified > CandidateLifetime)
                        await DeleteAsync(other.Key, ct).ConfigureAwait(false); // left by a killed contender
                    else
                        contended = true;
                }
                if (!contended && await StatAsync(key, ct).ConfigureAwait(false) == null)
                {
                    await this.PutAsync(key, bytes, ct).ConfigureAwait(false);
                    won = true;
                }
            }
            finally
            {
                await DeleteAsync(mine, CancellationToken.None).ConfigureAwait(false);
            }
            if (won) return true;
            if (await StatAsync(key, ct).ConfigureAwait(false) != null) return false;
            await Task.Delay(RandomPause(attempt), ct).ConfigureAwait(false);
        }
        throw new PgVaultException(ErrorCode.Locked, $"S3 repository '{Name}': unable to create '{key}': other writers kept contending for it",
            "run the command again; if it keeps failing, look for leftover '" + candidatePrefix + "*' objects");
    }

    private static TimeSpan RandomPause(int attempt) =>
        TimeSpan.FromMilliseconds(RandomNumberGenerator.GetInt32(20, 100 + 100 * Math.Min(attempt, 8)));
}
