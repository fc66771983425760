using PgVault.Core.Pipeline;

namespace PgVault.Core.Repository;

/// <summary>
/// The writing half of the pack format (docs/repository-format.md, "Physical backups"): a pack is
/// one stored object (compression <c>none</c>, encrypted as a whole in an encrypted repository)
/// holding the concatenation of its members, each one file compressed on its own, so a restore can
/// take one member out of a pack. The offset and length of each member go into the manifest.
/// </summary>
internal sealed class PackWriter : IDisposable
{
    private readonly CountingStream _pack;

    private PackWriter(Stream input) => _pack = new CountingStream(input, leaveOpen: true);

    /// <summary>Bytes of the pack written so far (the offset of the next member).</summary>
    public long Position => _pack.Bytes;

    /// <summary>
    /// Writes pack <paramref name="relative"/> of backup <paramref name="id"/> to every repository of
    /// <paramref name="targets"/>: <paramref name="fill"/> adds the members; the pack is committed
    /// only when it returned and every repository stored it.
    /// </summary>
    public static Task<StoredFile[]> WriteAsync(CatalogSet targets, string id, string relative, Action<PackWriter, CancellationToken> fill, CancellationToken ct) =>
        targets.WriteObjectAsync(id, relative, CompressionSpec.None, (input, c) =>
        {
            using var pack = new PackWriter(input);
            fill(pack, c);
            pack._pack.Flush();
            return Task.CompletedTask;
        }, ct);

    /// <summary>Starts a member compressed with <paramref name="compression"/> at the end of the pack.</summary>
    public PackMemberWriter BeginMember(CompressionSpec compression) => new(_pack, compression);

    public void Dispose() => _pack.Dispose();
}

/// <summary>
/// One member being written: write its content to <see cref="Content"/>, then
/// <see cref="Complete"/> ends the compressed frame and says where the member lies in the pack.
/// </summary>
internal sealed class PackMemberWriter : IDisposable
{
    private readonly CountingStream _pack;
    private readonly long _offset;
    private readonly string _compression;
    private bool _completed;

    internal PackMemberWriter(CountingStream pack, CompressionSpec compression)
    {
        _pack = pack;
        _offset = pack.Bytes;
        _compression = CompressionSpec.TypeName(compression.Type);
        // zstd members are written as 1 MiB frames (see ZstdFrameStream): faster, same decoders.
        Content = compression.Type == CompressionType.Zstd
            ? new ZstdFrameStream(pack, compression.Level, leaveOpen: true)
            : Compression.CompressTo(pack, compression, leaveOpen: true);
    }

    /// <summary>Where the member's uncompressed content is written.</summary>
    public Stream Content { get; }

    /// <summary>Writes the final compressed frame; returns the member's place in the pack.</summary>
    public PackMember Complete()
    {
        if (!_completed)
        {
            _completed = true;
            Content.Dispose();
        }
        return new PackMember(_offset, _pack.Bytes - _offset, _compression);
    }

    public void Dispose()
    {
        if (_completed) return;
        _completed = true;
        Content.Dispose();
    }
}

/// <summary>Where a member lies in its pack: the manifest's <c>offset</c>, <c>length</c> and <c>compression</c>.</summary>
internal readonly record struct PackMember(long Offset, long Length, string Compression);
