using System.CommandLine;
using PgVault.Core.Errors;
using PgVault.Core.Vault;

namespace PgVault.Cli.Infrastructure;

/// <summary>The flags that belong to one mode of a command (logical / physical), and what to say when another mode gets them.</summary>
internal interface IMode
{
    IReadOnlyList<Option> Flags { get; }

    string Foreign(Option flag, ParseResult result);
}

/// <summary>
/// One mode of a command: the flags that only it takes, the usage error for one of them given to
/// another mode, and how its options record is bound (with the vault resolving every setting).
/// A command lists its modes once; <see cref="Bind"/> refuses the other modes' flags from that one table.
/// </summary>
internal sealed class ModeBinder<TOptions>(Option[] flags, Func<Option, ParseResult, string> foreign, Func<ParseResult, Vault, TOptions> bind) : IMode
{
    public IReadOnlyList<Option> Flags => flags;

    public string Foreign(Option flag, ParseResult result) => foreign(flag, result);

    public TOptions Bind(ParseResult result, Vault vault, params IMode[] others)
    {
        foreach (var other in others)
        {
            foreach (var flag in other.Flags)
            {
                if (result.GetResult(flag) is { Implicit: false }) throw PgVaultException.Usage(other.Foreign(flag, result));
            }
        }
        return bind(result, vault);
    }
}
