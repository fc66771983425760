using System.Diagnostics;
using System.Security.Cryptography;
using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Storage;
using Xunit;
using Xunit.Abstractions;

namespace PgVault.Tests.Storage;

/// <summary>
/// What the S3 store does when things go wrong: a dead endpoint, a missing bucket, refused
/// credentials, the server killed in the middle of an upload. Every failure must be one clear
/// <see cref="PgVaultException"/>, arrive in bounded time (a hang fails the test after a generous
/// limit; no timing is asserted), leave nothing visible, and never show a secret.
/// </summary>
public sealed class S3FaultTests(S3ServerFixture server, ITestOutputHelper output) : IClassFixture<S3ServerFixture>
{
    private const int MiB = 1024 * 1024;
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(90);
    private readonly CancellationToken _ct = CancellationToken.None;

    [Fact]
    public async Task Unreachable_endpoint_fails_with_a_clear_error()
    {
        int port = S3ServerFixture.FreePort();
        var settings = server.Settings("p") with { Endpoint = $"http://127.0.0.1:{port}" };
        await using var store = new S3ObjectStore("offsite", settings);

        var watch = Stopwatch.StartNew();
        var e = await FailsAsync(() => store.PutAsync("clusters/x/a", new byte[] { 1, 2, 3 }, _ct));
        output.WriteLine($"PUT to a closed port failed after {watch.Elapsed.TotalSeconds:F1} s: {e.Message}");

        Assert.StartsWith($"S3 repository 'offsite': unable to reach http://127.0.0.1:{port}: ", e.Message, StringComparison.Ordinal);
        Assert.Contains("refused", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.NotNull(e.Hint);
        Assert.StartsWith("S3 repository 'offsite': unable to reach", (await FailsAsync(() => store.StatAsync("a", _ct))).Message, StringComparison.Ordinal);
        Assert.StartsWith("S3 repository 'offsite': unable to reach", (await FailsAsync(() => store.OpenReadAsync("a", _ct))).Message, StringComparison.Ordinal);
        Assert.StartsWith("S3 repository 'offsite': unable to reach", (await FailsAsync(() => ListAllAsync(store))).Message, StringComparison.Ordinal);
        Assert.StartsWith("S3 repository 'offsite': unable to reach", (await FailsAsync(() => store.DeleteAsync("a", _ct))).Message, StringComparison.Ordinal);

        // A multipart writer fails on a write (the first part) or at commit, and disposes quietly.
        var writer = await store.OpenWriteAsync("big", _ct);
        var failure = await FailsAsync(async () =>
        {
            for (int i = 0; i < 12; i++) await writer.WriteAsync(new byte[MiB], _ct);
            await writer.CommitAsync(_ct);
        });
        Assert.StartsWith("S3 repository 'offsite': unable to reach", failure.Message, StringComparison.Ordinal);
        await writer.DisposeAsync().AsTask().WaitAsync(HangLimit);
    }

    [Fact]
    public async Task Missing_bucket_is_named_in_the_error()
    {
        await using var store = new S3ObjectStore("offsite", server.Settings("p", bucket: "no-such-bucket"));
        string expected = $"S3 repository 'offsite': bucket 'no-such-bucket' does not exist at {server.Endpoint}";

        Assert.Equal(expected, (await FailsAsync(() => store.PutAsync("a", new byte[] { 1 }, _ct))).Message);
        Assert.Equal(expected, (await FailsAsync(() => store.OpenReadAsync("a", _ct))).Message);
        Assert.Equal(expected, (await FailsAsync(() => store.StatAsync("a", _ct))).Message);
        Assert.Equal(expected, (await FailsAsync(() => ListAllAsync(store))).Message);
        Assert.Equal(expected, (await FailsAsync(() => store.PutAsync("big", new byte[5 * MiB + 1], _ct))).Message);
        Assert.Contains("create the bucket", (await FailsAsync(() => store.PutAsync("a", new byte[] { 1 }, _ct))).Hint, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refused_credentials_name_operation_key_and_status_but_never_the_secret()
    {
        const string secretVariable = "PGVAULT_TEST_S3_WRONG_SECRET";
        const string keyVariable = "PGVAULT_TEST_S3_WRONG_KEY";
        const string secret = "wJalrXUtnFEMI-not-a-real-secret-K7MDENG";
        Environment.SetEnvironmentVariable(keyVariable, "AKIAWRONGKEY");
        Environment.SetEnvironmentVariable(secretVariable, secret);
        var settings = server.Settings("pfx") with { AccessKeyIdEnv = keyVariable, SecretAccessKeyEnv = secretVariable };
        await using var store = new S3ObjectStore("offsite", settings);

        var e = await FailsAsync(() => store.PutAsync("clusters/x/obj", new byte[] { 1 }, _ct));

        output.WriteLine(e.Message);
        Assert.StartsWith("S3 repository 'offsite': PUT 'pfx/clusters/x/obj' failed: 403 InvalidAccessKeyId", e.Message, StringComparison.Ordinal);
        Assert.Contains("credentials", e.Hint, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, e.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(secret, store.Location, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, (await FailsAsync(() => store.OpenReadAsync("k", _ct))).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_side_encryption_settings_are_sent_on_single_and_multipart_uploads()
    {
        // s3rver accepts (and ignores) the headers; AWS would encrypt. The bytes must come back as written.
        var settings = server.Settings($"sse/{Guid.NewGuid():N}") with { Sse = S3Settings.SseAes256 };
        await using var store = new S3ObjectStore("sse", settings);
        byte[] small = RandomNumberGenerator.GetBytes(1000);
        byte[] large = RandomNumberGenerator.GetBytes(5 * MiB + 100);

        await store.PutAsync("small", small, _ct);
        await store.PutAsync("large", large, _ct);

        Assert.Equal(small, await store.GetBytesAsync("small", _ct));
        Assert.Equal(large, await store.GetBytesAsync("large", _ct));
    }

    [Fact]
    public async Task Server_killed_during_a_large_upload_fails_the_write_and_a_rerun_succeeds()
    {
        string prefix = $"crash/{Guid.NewGuid():N}";
        await using var store = server.OpenStore("crash", prefix, concurrency: 2);
        byte[] chunk = new byte[MiB];
        var random = new Random(42);
        var writer = await store.OpenWriteAsync("clusters/main/big.bin", _ct);
        var watch = new Stopwatch();

        var e = await FailsAsync(async () =>
        {
            for (int i = 0; i < 400; i++)
            {
                random.NextBytes(chunk);
                await writer.WriteAsync(chunk, _ct);
                if (i == 30)
                {
                    await server.StopAsync();
                    watch.Start();
                }
            }
            await writer.CommitAsync(_ct);
        });
        output.WriteLine($"write failed {watch.Elapsed.TotalSeconds:F1} s after the kill: {e.Message}");
        Assert.StartsWith("S3 repository 'crash': ", e.Message, StringComparison.Ordinal);
        Assert.Contains(server.Endpoint, e.Message, StringComparison.Ordinal);
        // The writer is now unusable: nothing more can be written or committed.
        Assert.Contains("failed earlier", (await FailsAsync(async () => await writer.WriteAsync(chunk, _ct))).Message, StringComparison.Ordinal);
        await FailsAsync(() => writer.CommitAsync(_ct));
        await writer.DisposeAsync().AsTask().WaitAsync(HangLimit); // the abort cannot reach the server: best effort, no throw

        await server.StartAsync();
        Assert.Null(await store.StatAsync("clusters/main/big.bin", _ct));
        Assert.Empty(await ListAllAsync(store));
        // The upload the dead server kept is found and can be cleaned up.
        var leftovers = await store.ListUnfinishedUploadsAsync(_ct);
        output.WriteLine($"unfinished uploads after the restart: {leftovers.Count}");
        foreach (var (key, uploadId, _) in leftovers)
        {
            Assert.Equal("clusters/main/big.bin", key);
            await store.AbortUploadAsync(key, uploadId, _ct);
        }
        Assert.Empty(await store.ListUnfinishedUploadsAsync(_ct));

        // A rerun succeeds, byte for byte.
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var rerun = await store.OpenWriteAsync("clusters/main/big.bin", _ct))
        {
            for (int i = 0; i < 40; i++)
            {
                random.NextBytes(chunk);
                sha.AppendData(chunk);
                await rerun.WriteAsync(chunk, _ct);
            }
            await rerun.CommitAsync(_ct);
        }
        await using var read = await store.OpenReadAsync("clusters/main/big.bin", _ct);
        Assert.Equal(sha.GetHashAndReset(), await SHA256.HashDataAsync(read, _ct));
        Assert.Equal(40L * MiB, (await store.StatAsync("clusters/main/big.bin", _ct))!.Size);
    }

    [Fact]
    public async Task Unset_credential_variable_is_a_usage_error_naming_the_variable()
    {
        var settings = server.Settings("p") with { AccessKeyIdEnv = "PGVAULT_TEST_S3_NEVER_SET_VARIABLE" };

        var e = Assert.Throws<PgVaultException>(() => new S3ObjectStore("offsite", settings));

        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.Equal("S3 repository 'offsite': environment variable PGVAULT_TEST_S3_NEVER_SET_VARIABLE (named by access_key_id_env) is not set", e.Message);
    }

    private static async Task<List<ObjectInfo>> ListAllAsync(IObjectStore store)
    {
        var all = new List<ObjectInfo>();
        await foreach (var info in store.ListAsync("", CancellationToken.None)) all.Add(info);
        return all;
    }

    private static async Task<PgVaultException> FailsAsync(Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<PgVaultException>(() => action().WaitAsync(HangLimit));
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }
}
