using System.Text;
using PgVault.Core.Errors;
using PgVault.Core.Pipeline;
using PgVault.Core.Repository;
using PgVault.Core.Storage;
using Xunit;
using Repo = PgVault.Core.Repository.Repository;

namespace PgVault.Tests.Unit;

/// <summary>The pack format (Repository/PackWriter + PackReader + PageDeltas) against in-memory stores, no server.</summary>
public sealed class PackTests
{
    private const string Id = "20261123T143012Z-F";
    private static readonly string Relative = RepositoryLayout.PackObject(1);
    private static readonly string Key = RepositoryLayout.BackupObject("main", Id, Relative);
    private readonly CancellationToken _ct = CancellationToken.None;

    private static byte[] Content(string seed, int size)
    {
        var sb = new StringBuilder();
        for (int i = 0; sb.Length < size; i++) sb.Append(seed).Append(' ').Append(i).Append('\n');
        return Encoding.ASCII.GetBytes(sb.ToString(0, size));
    }

    private static readonly (string Path, byte[] Data, CompressionSpec Compression)[] Files =
    [
        ("base/5/16384", Content("relation", 300_000), CompressionSpec.Parse("zstd:3")),
        ("base/5/16385", Content("index", 70_000), CompressionSpec.Parse("lz4:0")),
        ("base/5/pg_filenode.map", Content("map", 512), CompressionSpec.None),
        ("global/pg_control", Content("control", 8192), CompressionSpec.Parse("gzip:6")),
    ];

    private async Task<(StoredFile[] Stored, List<PackMember> Members)> WritePackAsync(CatalogSet targets)
    {
        var members = new List<PackMember>();
        var stored = await PackWriter.WriteAsync(targets, Id, Relative, (pack, c) =>
        {
            foreach (var (_, data, compression) in Files)
            {
                long before = pack.Position;
                using var member = pack.BeginMember(compression);
                member.Content.Write(data);
                var placed = member.Complete();
                Assert.Equal(before, placed.Offset);
                Assert.Equal(pack.Position, placed.Offset + placed.Length);
                members.Add(placed);
            }
        }, _ct);
        return (stored, members);
    }

    private static byte[] ReadToEnd(Stream content)
    {
        using var buffer = new MemoryStream();
        content.CopyTo(buffer);
        return buffer.ToArray();
    }

    /// <summary>Reads the members at <paramref name="wanted"/> (indexes into <see cref="Files"/>), then the pack to its end.</summary>
    private async Task<List<byte[]>> ReadPackAsync(Repo repository, StoredFile recorded, List<PackMember> members, params int[] wanted)
    {
        var contents = new List<byte[]>();
        await using var reader = await PackReader.OpenAsync(repository, Key, recorded, _ct);
        foreach (int i in wanted)
        {
            reader.MoveTo(members[i].Offset, Files[i].Path);
            using var member = reader.OpenMember(members[i].Length, members[i].Compression);
            contents.Add(ReadToEnd(member.Content));
            member.CheckEnd();
        }
        reader.Finish();
        return contents;
    }

    [Fact]
    public async Task Pack_round_trip_in_two_repositories_one_encrypted_members_read_one_by_one_and_skipped()
    {
        var plain = await Repo.InitAsync(new MemoryObjectStore("plain"), null, _ct);
        var encrypted = await Repo.InitAsync(new MemoryObjectStore("encrypted"), "correct horse battery staple", _ct);
        var (stored, members) = await WritePackAsync(new CatalogSet([new Catalog(plain, "main"), new Catalog(encrypted, "main")]));

        Assert.Equal(2, stored.Length);
        Assert.Equal(Files.Select(f => CompressionSpec.TypeName(f.Compression.Type)), members.Select(m => m.Compression));
        Assert.Equal(0, members[0].Offset);
        for (int i = 1; i < members.Count; i++) Assert.Equal(members[i - 1].Offset + members[i - 1].Length, members[i].Offset);
        Assert.Equal(members[^1].Offset + members[^1].Length, stored[0].SizeBytes);
        Assert.True(stored[1].Encrypted);
        Assert.False(stored[0].Encrypted);

        foreach (var (repository, record) in new[] { (plain, stored[0]), (encrypted, stored[1]) })
        {
            var all = await ReadPackAsync(repository, record, members, 0, 1, 2, 3);
            for (int i = 0; i < Files.Length; i++) Assert.Equal(Files[i].Data, all[i]);
            var some = await ReadPackAsync(repository, record, members, 1, 3); // members in between are skipped
            Assert.Equal(Files[1].Data, some[0]);
            Assert.Equal(Files[3].Data, some[1]);
        }
    }

    [Fact]
    public async Task Damaged_pack_whose_members_still_read_is_detected_by_the_pack_checksum()
    {
        var store = new MemoryObjectStore("plain");
        var repository = await Repo.InitAsync(store, null, _ct);
        var (stored, members) = await WritePackAsync(new CatalogSet([new Catalog(repository, "main")]));
        byte[] bytes = await store.GetBytesAsync(Key, _ct);
        bytes[members[2].Offset + 10] ^= 0x01; // inside the uncompressed member: its own bytes do not tell
        await store.PutAsync(Key, bytes, _ct);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => ReadPackAsync(repository, stored[0], members, 0, 1, 2, 3));

        Assert.Equal(ErrorCode.ObjectCorrupt, e.Code);
        Assert.True(e.RepositoryFault);
        Assert.Contains(Key, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bytes_added_after_the_last_member_are_detected_when_the_pack_is_read_to_its_end()
    {
        var store = new MemoryObjectStore("plain");
        var repository = await Repo.InitAsync(store, null, _ct);
        var (stored, members) = await WritePackAsync(new CatalogSet([new Catalog(repository, "main")]));
        byte[] planted = [.. await store.GetBytesAsync(Key, _ct), .. "planted"u8.ToArray()];
        await store.PutAsync(Key, planted, _ct);

        var e = await Assert.ThrowsAsync<PgVaultException>(() => ReadPackAsync(repository, stored[0], members, 0, 1, 2, 3));

        Assert.Equal(ErrorCode.ObjectCorrupt, e.Code);
        Assert.Contains(Key, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pack_that_ends_before_a_member_names_the_file()
    {
        var store = new MemoryObjectStore("plain");
        var repository = await Repo.InitAsync(store, null, _ct);
        var (_, members) = await WritePackAsync(new CatalogSet([new Catalog(repository, "main")]));
        byte[] bytes = await store.GetBytesAsync(Key, _ct);
        await store.PutAsync(Key, bytes.AsMemory(0, (int)members[3].Offset - 1), _ct);

        await using var reader = await PackReader.OpenAsync(repository, Key, recorded: null, _ct);
        var e = Assert.Throws<PgVaultException>(() => reader.MoveTo(members[3].Offset, Files[3].Path));

        Assert.Equal(ErrorCode.ObjectCorrupt, e.Code);
        Assert.Contains("the pack ends before global/pg_control", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Page_delta_round_trip_keeps_page_numbers_a_short_last_page_and_the_final_size()
    {
        var pages = new (int Number, byte[] Bytes)[] { (0, Content("p0", PageDeltas.PageSize)), (7, Content("p7", PageDeltas.PageSize)), (9, Content("tail", 100)) };
        using var content = new MemoryStream();
        foreach (var (number, page) in pages) PageDeltas.WritePage(content, number, page);
        PageDeltas.WriteEnd(content, 9L * PageDeltas.PageSize + 100);
        Assert.Equal(pages.Sum(p => 8 + p.Bytes.Length) + 12, content.Length);

        content.Position = 0;
        var read = new List<(int, byte[])>();
        var (count, finalSize) = PageDeltas.Read(content, (number, page) => read.Add(((int)number, page.ToArray())));

        Assert.Equal(3, count);
        Assert.Equal(9L * PageDeltas.PageSize + 100, finalSize);
        Assert.Equal(pages.Select(p => p.Number), read.Select(r => r.Item1));
        for (int i = 0; i < pages.Length; i++) Assert.Equal(pages[i].Bytes, read[i].Item2);
    }

    [Fact]
    public void Page_delta_with_a_page_longer_than_a_page_is_refused()
    {
        using var content = new MemoryStream();
        PageDeltas.WritePage(content, 3, new byte[PageDeltas.PageSize + 1]);
        PageDeltas.WriteEnd(content, 0);
        content.Position = 0;

        var e = Assert.Throws<InvalidDataException>(() => PageDeltas.Read(content, (_, _) => { }));

        Assert.Contains("page 3 has length 8193", e.Message, StringComparison.Ordinal);
    }
}
