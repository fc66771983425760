using PgVault.Core.Physical;
using Xunit;

namespace PgVault.Tests.Unit;

public sealed class PageHashListTests
{
    [Fact]
    public void Grows_past_its_capacity_and_keeps_every_hash_in_order()
    {
        using var list = new PageHashList(16);
        for (ulong i = 0; i < 1000; i++) list.Add(i * 31);
        Assert.Equal(1000, list.Count);
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (ulong)i * 31), list.Span.ToArray());
    }

    [Fact]
    public void SetCount_zeroes_what_it_adds_even_in_a_reused_array()
    {
        // A rented array may hold another file's hashes: growing the count must not expose them.
        using (var dirty = new PageHashList(4096))
        {
            for (int i = 0; i < 4096; i++) dirty.Add(ulong.MaxValue);
        }
        using var list = new PageHashList(4096);
        list.Add(7);
        list.SetCount(4096);
        Assert.Equal(7UL, list[0]);
        Assert.All(list.Span[1..].ToArray(), h => Assert.Equal(0UL, h));
        list.SetCount(2);
        Assert.Equal(2, list.Count);
        list[1] = 9;
        Assert.Equal([7UL, 9UL], list.Span.ToArray());
    }

    [Fact]
    public void SetCount_with_zeroFrom_zeroes_only_from_that_index_on()
    {
        using (var dirty = new PageHashList(4096))
        {
            for (int i = 0; i < 4096; i++) dirty.Add(ulong.MaxValue);
        }
        using var list = new PageHashList(4096);
        list.SetCount(4096, zeroFrom: 100);
        list.Span[..100].Fill(5); // what the caller fills
        Assert.All(list.Span[..100].ToArray(), h => Assert.Equal(5UL, h));
        Assert.All(list.Span[100..].ToArray(), h => Assert.Equal(0UL, h)); // never another file's hashes
    }
}
