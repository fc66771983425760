using PgVault.Core.Config;
using PgVault.Core.Errors;
using PgVault.Core.Storage;
using Xunit;

namespace PgVault.Tests.Storage;

/// <summary>The S3 keys of a repository: parsed, defaulted, checked; and the factory that opens the store.</summary>
public sealed class S3ConfigTests
{
    private const string File = "/etc/pgvault/s3.yaml";

    private const string FullExample = """
        repositories:
          - name: local
            path: /var/lib/pgvault
          - name: offsite
            type: s3
            endpoint: https://minio.example.com:9000/
            bucket: pgvault-backups
            prefix: /prod/main
            region: eu-west-3
            path_style: true
            access_key_id_env: PGVAULT_S3_KEY_ID
            secret_access_key_env: PGVAULT_S3_SECRET
            sse: aws:kms
            sse_kms_key_id: arn:aws:kms:eu-west-3:111122223333:key/abcd
            verify_tls: false
            part_size_mb: 64
            upload_concurrency: 8
        """;

    private static string S3Repo(string extra) => $"repositories:\n  - name: offsite\n    type: s3\n    bucket: my-bucket\n{extra}";

    private static PgVaultException ParseError(string yaml)
    {
        var e = Assert.Throws<PgVaultException>(() => ConfigLoader.Parse(yaml, File));
        Assert.Equal(ErrorKind.Usage, e.Kind);
        Assert.StartsWith($"config {File}: ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void Full_example_parses_to_the_expected_settings()
    {
        var config = ConfigLoader.Parse(FullExample, File);

        Assert.Equal(new RepositoryConfig("local", "filesystem", "/var/lib/pgvault"), config.Repositories[0]);
        Assert.Equal(
            new RepositoryConfig("offsite", "s3", null, new S3Settings(
                "pgvault-backups", "https://minio.example.com:9000", "prod/main/", "eu-west-3", PathStyle: true,
                AccessKeyIdEnv: "PGVAULT_S3_KEY_ID", SecretAccessKeyEnv: "PGVAULT_S3_SECRET",
                Sse: "aws:kms", SseKmsKeyId: "arn:aws:kms:eu-west-3:111122223333:key/abcd",
                VerifyTls: false, PartSizeMb: 64, UploadConcurrency: 8)),
            config.Repositories[1]);
    }

    [Fact]
    public void Only_the_bucket_is_required_and_the_rest_defaults()
    {
        var repo = Assert.Single(ConfigLoader.Parse(S3Repo(""), File).Repositories);

        Assert.Equal("s3", repo.Type);
        Assert.Null(repo.Path);
        Assert.Equal(new S3Settings("my-bucket"), repo.S3);
        Assert.Equal(("", "us-east-1", false, true, 16, 4), (repo.S3!.Prefix, repo.S3.Region, repo.S3.PathStyle, repo.S3.VerifyTls, repo.S3.PartSizeMb, repo.S3.UploadConcurrency));
        Assert.Null(repo.S3.Endpoint);
        Assert.Null(repo.S3.AccessKeyIdEnv);
        Assert.Null(repo.S3.Sse);
    }

    [Theory]
    [InlineData("a", "a/")]
    [InlineData("a/b/", "a/b/")]
    [InlineData("/a/b", "a/b/")]
    [InlineData("/", "")]
    [InlineData("\"\"", "")]
    public void Prefix_is_normalised_to_end_with_a_slash(string prefix, string expected)
    {
        var repo = Assert.Single(ConfigLoader.Parse(S3Repo($"    prefix: {prefix}\n"), File).Repositories);

        Assert.Equal(expected, repo.S3!.Prefix);
    }

    [Theory]
    [InlineData("    path: /x\n", "unknown key 'repositories[0].path' (allowed: name, type, encrypted, endpoint, bucket, prefix, region, path_style, access_key_id_env, secret_access_key_env, sse, sse_kms_key_id, verify_tls, part_size_mb, upload_concurrency, retention)")]
    [InlineData("    part_size: 5\n", "unknown key 'repositories[0].part_size'")]
    [InlineData("    endpoint: ftp://host\n", "'repositories[0].endpoint' 'ftp://host' must be an http:// or https:// URL")]
    [InlineData("    endpoint: not a url\n", "'repositories[0].endpoint' 'not a url' must be an http:// or https:// URL")]
    [InlineData("    prefix: a/../b\n", "'repositories[0].prefix' 'a/../b' must be '/'-separated names")]
    [InlineData("    prefix: a//b\n", "'repositories[0].prefix' 'a//b' must be '/'-separated names")]
    [InlineData("    region: EU West\n", "'repositories[0].region' 'EU West' must be a region name")]
    [InlineData("    path_style: yes\n", "'repositories[0].path_style' 'yes' must be true or false")]
    [InlineData("    verify_tls: 0\n", "'repositories[0].verify_tls' '0' must be true or false")]
    [InlineData("    verify_tls: false\n", "'repositories[0].verify_tls' false is only allowed with an https:// endpoint")]
    [InlineData("    endpoint: http://127.0.0.1:9000\n    verify_tls: false\n", "'repositories[0].verify_tls' false is only allowed with an https:// endpoint")]
    [InlineData("    access_key_id_env: KEY\n", "'repositories[0]' needs both access_key_id_env and secret_access_key_env, or neither")]
    [InlineData("    secret_access_key_env: SECRET\n", "'repositories[0]' needs both access_key_id_env and secret_access_key_env, or neither")]
    [InlineData("    access_key_id_env: 1KEY\n    secret_access_key_env: S\n", "'repositories[0].access_key_id_env' must be the name of an environment variable")]
    [InlineData("    access_key_id_env: K\n    secret_access_key_env: my-secret\n", "'repositories[0].secret_access_key_env' must be the name of an environment variable")]
    [InlineData("    sse: aes256\n", "'repositories[0].sse' 'aes256' is not supported (allowed: AES256, aws:kms)")]
    [InlineData("    sse: AES256\n    sse_kms_key_id: k\n", "'repositories[0].sse_kms_key_id' is only allowed with sse: aws:kms")]
    [InlineData("    part_size_mb: 4\n", "'repositories[0].part_size_mb' '4' must be a whole number from 5 to 512")]
    [InlineData("    part_size_mb: 513\n", "'repositories[0].part_size_mb' '513' must be a whole number from 5 to 512")]
    [InlineData("    part_size_mb: 16MB\n", "'repositories[0].part_size_mb' '16MB' must be a whole number from 5 to 512")]
    [InlineData("    upload_concurrency: 0\n", "'repositories[0].upload_concurrency' '0' must be a whole number from 1 to 32")]
    [InlineData("    upload_concurrency: 33\n", "'repositories[0].upload_concurrency' '33' must be a whole number from 1 to 32")]
    public void Bad_s3_settings_are_rejected_naming_the_key_and_what_is_allowed(string extra, string expected)
    {
        var e = ParseError(S3Repo(extra));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("repositories:\n  - name: offsite\n    type: s3\n", "'repositories[0].bucket' is required for an s3 repository")]
    [InlineData("repositories:\n  - name: offsite\n    type: s3\n    bucket: My_Bucket\n", "'repositories[0].bucket' 'My_Bucket' is not a valid bucket name")]
    [InlineData("repositories:\n  - name: offsite\n    type: s3\n    bucket: a/b\n", "'repositories[0].bucket' 'a/b' is not a valid bucket name")]
    [InlineData("repositories:\n  - name: offsite\n    type: gcs\n    bucket: b\n", "'repositories[0].type' 'gcs' is not supported (allowed: filesystem, s3)")]
    [InlineData("repositories:\n  - name: local\n    path: /x\n    bucket: b\n", "unknown key 'repositories[0].bucket' (allowed: name, type, path, encrypted, retention)")]
    public void Repository_type_decides_the_keys(string yaml, string expected)
    {
        Assert.Contains(expected, ParseError(yaml).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Secret_values_never_reach_the_configuration_or_its_messages()
    {
        // Only variable names are configured; a secret pasted in their place is refused without echoing more than the key.
        var e = ParseError(S3Repo("    access_key_id_env: AKIAIOSFODNN7EXAMPLE\n    secret_access_key_env: wJalrXUtnFEMI/K7MDENG\n"));

        Assert.Contains("'repositories[0].secret_access_key_env' must be the name of an environment variable", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wJalrXUtnFEMI", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Factory_opens_an_s3_store_for_an_s3_repository()
    {
        var repo = new RepositoryConfig("offsite", "s3", null, new S3Settings("my-bucket", "http://127.0.0.1:9", "a/b/", PathStyle: true));

        await using var store = ObjectStoreFactory.Open(repo);

        var s3 = Assert.IsType<S3ObjectStore>(store);
        Assert.Equal("offsite", s3.Name);
        Assert.Equal("http://127.0.0.1:9", s3.Endpoint);
        Assert.Equal("http://127.0.0.1:9/my-bucket/a/b/", s3.Location);
        await using var aws = new S3ObjectStore("aws", new S3Settings("bkt", Prefix: "p/", Region: "eu-west-3"));
        Assert.Equal("https://s3.eu-west-3.amazonaws.com", aws.Endpoint);
        Assert.Equal("s3://bkt/p/", aws.Location);
    }

    [Fact]
    public void Factory_refuses_an_s3_repository_without_settings()
    {
        var e = Assert.Throws<PgVaultException>(() => ObjectStoreFactory.Open(new RepositoryConfig("offsite", "s3", null)));

        Assert.Equal(ErrorKind.Usage, e.Kind);
    }
}
