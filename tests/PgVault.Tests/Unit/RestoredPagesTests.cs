using PgVault.Core.Physical;
using Xunit;

namespace PgVault.Tests.Unit;

/// <summary>
/// The page digest a restore computes from what it writes must equal the digest of the file it
/// wrote, read back (the check it replaces). Each case does the same writes to a real file and to
/// the tracker, then compares with <c>PageDigest.Of</c> of the file.
/// </summary>
public sealed class RestoredPagesTests : IDisposable
{
    private const int Page = 8192;
    private readonly string _dir = Directory.CreateTempSubdirectory("pgvault-restored-pages-").FullName;
    private readonly PageHashFile _store = new();

    public void Dispose()
    {
        _store.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private sealed class Twin(string path, PageHashFile store) : IDisposable
    {
        private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite);
        private long _size;
        public RestoredPages Pages { get; private set; } = null!;

        public void Base(byte[] content, Random random, int maxPages = 100_000)
        {
            Pages = new RestoredPages(maxPages, store);
            // Pieces of any length, as a decompressing stream hands them out.
            for (int at = 0; at < content.Length;)
            {
                int n = Math.Min(content.Length - at, random.Next(1, 3 * Page));
                RandomAccess.Write(_file, content.AsSpan(at, n), at);
                Pages.Append(content.AsSpan(at, n));
                at += n;
            }
            _size = content.Length;
            Pages.EndBase();
        }

        public void Write(uint number, byte[] page)
        {
            RandomAccess.Write(_file, page, (long)number * Page);
            _size = Math.Max(_size, (long)number * Page + page.Length);
            Pages.Page(number, page);
        }

        public void Resize(long size)
        {
            RandomAccess.SetLength(_file, size);
            _size = size;
            Pages.Resize(size);
        }

        public string OnDisk()
        {
            Assert.Equal(_size, RandomAccess.GetLength(_file));
            return PageDigest.Of(_file);
        }

        public void Dispose()
        {
            Pages?.Dispose();
            _file.Dispose();
        }
    }

    private static byte[] Bytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Digest_of_base_and_deltas_equals_the_digest_of_the_file_written(int seed)
    {
        var random = new Random(seed);
        using var twin = new Twin(Path.Combine(_dir, $"f{seed}"), _store);
        int pages = random.Next(0, 300);
        twin.Base(Bytes(random, pages * Page), random);
        for (int delta = 0; delta < 4; delta++)
        {
            int size = pages;
            for (int i = random.Next(0, 40); i > 0; i--)
            {
                // Mostly inside the file, sometimes past its end (the gap reads as zeros).
                uint number = (uint)random.Next(0, size + 20);
                twin.Write(number, Bytes(random, Page));
                pages = Math.Max(pages, (int)number + 1);
            }
            // Cut, grow or keep the final size, as a delta's end mark says.
            pages = random.Next(3) switch { 0 => random.Next(0, pages + 1), 1 => pages + random.Next(1, 30), _ => pages };
            twin.Resize((long)pages * Page);
        }
        Assert.True(twin.Pages.Valid);
        Assert.Equal(twin.OnDisk(), twin.Pages.Digest());
    }

    [Fact]
    public void Two_files_share_the_page_hash_file_in_regions_of_their_own()
    {
        // Bases of more than one batch of hashes (1024), written in turns, then deltas that grow
        // a file by more than a batch of zero pages: each digest still matches its own file.
        var random = new Random(11);
        using var first = new Twin(Path.Combine(_dir, "first"), _store);
        using var second = new Twin(Path.Combine(_dir, "second"), _store);
        first.Base(Bytes(random, 2500 * Page), random, maxPages: 5000);
        second.Base(Bytes(random, 1100 * Page), random, maxPages: 5000);
        first.Write(3, Bytes(random, Page));
        second.Write(1100 + 1500, Bytes(random, Page));
        first.Write(2499, Bytes(random, Page));
        second.Write(7, Bytes(random, Page));
        first.Resize(2000L * Page);
        Assert.Equal(first.OnDisk(), first.Pages.Digest());
        Assert.Equal(second.OnDisk(), second.Pages.Digest());
    }

    [Fact]
    public void A_full_temporary_disk_turns_the_tracker_off_instead_of_failing()
    {
        // /dev/full fails every write with ENOSPC: the restore must read the file back, not fail.
        using var full = new PageHashFile("/dev/full");
        var pages = new RestoredPages(10, full);
        pages.Append(new byte[4 * Page]);
        pages.EndBase();
        Assert.False(pages.Valid);
        Assert.Null(pages.Digest());
        pages.Page(1, new byte[Page]);
        pages.Resize(2L * Page);
        Assert.Null(pages.Digest());
        pages.Dispose();
    }

    [Fact]
    public void A_file_cut_and_grown_again_reads_zeros_where_it_was_cut()
    {
        // The region still holds the hashes of pages 4-9 after the cut: growing again must replace them.
        var random = new Random(12);
        using var twin = new Twin(Path.Combine(_dir, "cut-grow"), _store);
        twin.Base(Bytes(random, 10 * Page), random, maxPages: 10);
        twin.Resize(4L * Page);
        twin.Resize(8L * Page);
        Assert.True(twin.Pages.Valid);
        Assert.Equal(twin.OnDisk(), twin.Pages.Digest());
    }

    [Fact]
    public void A_changed_page_changes_the_digest()
    {
        var random = new Random(7);
        using var twin = new Twin(Path.Combine(_dir, "changed"), _store);
        var content = Bytes(random, 10 * Page);
        twin.Base(content, random);
        string before = twin.Pages.Digest()!;
        var page = content.AsSpan(3 * Page, Page).ToArray();
        page[100] ^= 1;
        twin.Write(3, page);
        Assert.NotEqual(before, twin.Pages.Digest());
        Assert.Equal(twin.OnDisk(), twin.Pages.Digest());
    }

    [Fact]
    public void A_page_number_past_the_recorded_sizes_stops_the_tracking_instead_of_growing_it()
    {
        // A damaged delta could name page 2^30: the list must not grow to gigabytes for it.
        var random = new Random(9);
        using var twin = new Twin(Path.Combine(_dir, "far"), _store);
        twin.Base(Bytes(random, 4 * Page), random, maxPages: 6);
        twin.Write(5, Bytes(random, Page));
        Assert.Equal(twin.OnDisk(), twin.Pages.Digest()); // within the limit: still tracked
        twin.Pages.Page(1u << 30, Bytes(random, Page));
        Assert.False(twin.Pages.Valid);
        Assert.Null(twin.Pages.Digest());
        Assert.True(RestoredPages.Footprint(6) <= 16 * sizeof(ulong));
        Assert.Equal(1L << 20, RestoredPages.Footprint(131_072)); // a 1 GiB segment: 1 MiB of hashes
        Assert.Equal(131_073L * 8, RestoredPages.Footprint(131_073)); // bytes of the page hash file, not a pooled array
    }

    [Fact]
    public void Partial_pages_are_not_modelled_so_the_file_is_read_back()
    {
        var random = new Random(8);
        using (var odd = new Twin(Path.Combine(_dir, "odd-base"), _store))
        {
            odd.Base(Bytes(random, 3 * Page + 100), random);
            Assert.False(odd.Pages.Valid);
            Assert.Null(odd.Pages.Digest());
        }
        using (var shortPage = new Twin(Path.Combine(_dir, "short-page"), _store))
        {
            shortPage.Base(Bytes(random, 3 * Page), random);
            shortPage.Write(3, Bytes(random, 500));
            Assert.Null(shortPage.Pages.Digest());
        }
        using var cut = new Twin(Path.Combine(_dir, "odd-size"), _store);
        cut.Base(Bytes(random, 3 * Page), random);
        cut.Resize(2 * Page + 1);
        Assert.Null(cut.Pages.Digest());
    }
}
