using PgVault.Core.Errors;
using PgVault.Core.PostgreSql;
using PgVault.Core.Pipeline;

namespace PgVault.Core.Logical;

/// <summary>pg_dump output formats and how PgVault names and drives them.</summary>
public static class DumpFormat
{
    public const string Custom = "custom";
    public const string Directory = "directory";
    public const string Tar = "tar";
    public const string Plain = "plain";

    public static readonly string[] All = [Custom, Directory, Tar, Plain];

    public static string Letter(string format) => format switch
    {
        Custom => "c",
        Directory => "d",
        Tar => "t",
        Plain => "p",
        _ => throw PgVaultException.Usage($"format '{format}' is not valid (allowed: {string.Join(", ", All)})"),
    };
}

/// <summary>What `pgvault backup --type logical` was asked to do, validated once.</summary>
public sealed record LogicalBackupOptions
{
    public IReadOnlyList<string> Databases { get; init; } = [];
    public bool AllDatabases { get; init; }
    public string Format { get; init; } = DumpFormat.Custom;
    public int Jobs { get; init; } = 1;
    public IReadOnlyList<string> Tables { get; init; } = [];
    public IReadOnlyList<string> ExcludeTables { get; init; } = [];
    public IReadOnlyList<string> Schemas { get; init; } = [];
    public IReadOnlyList<string> ExcludeSchemas { get; init; } = [];
    public bool DataOnly { get; init; }
    public bool SchemaOnly { get; init; }
    /// <summary>null (none, unless --all), all, roles or tablespaces.</summary>
    public string? Globals { get; init; }
    public required CompressionSpec Compression { get; init; }

    /// <summary>
    /// True when pg_dump's own workers compress: a directory dump with gzip, the one algorithm every
    /// pg_dump writes. Its table files are then stored as pg_dump wrote them (<c>NNNN.dat.gz</c>),
    /// compressed in parallel by the <c>--jobs</c> workers, and pg_restore reads them as they are.
    /// </summary>
    public bool PgDumpCompresses => Format == DumpFormat.Directory && Compression.Type == CompressionType.Gzip;

    /// <summary>The globals scope actually dumped: --all implies all unless given.</summary>
    public string? EffectiveGlobals => Globals ?? (AllDatabases ? "all" : null);

    public void Validate()
    {
        DumpFormat.Letter(Format);
        if (Databases.Count == 0 && !AllDatabases && Globals is null)
            throw PgVaultException.Usage("nothing to back up: name databases with --db NAME, or pass --all or --globals");
        if (AllDatabases && Databases.Count > 0)
            throw PgVaultException.Usage("--all and --db exclude each other");
        if (DataOnly && SchemaOnly)
            throw PgVaultException.Usage("--data-only and --schema-only exclude each other");
        if (Jobs < 1 || Jobs > 64)
            throw PgVaultException.Usage($"--jobs {Jobs} is out of range (1 to 64)");
        if (Jobs > 1 && Format != DumpFormat.Directory)
            throw PgVaultException.Usage("--jobs needs --format directory (pg_dump dumps in parallel only to a directory)");
        if (Globals is not (null or "all" or "roles" or "tablespaces"))
            throw PgVaultException.Usage($"--globals '{Globals}' is not valid (allowed: all, roles, tablespaces)");
    }

    /// <summary>The pg_dump options that shape the content (recorded in the manifest).</summary>
    public List<string> DumpArguments()
    {
        var args = new List<string> { "--format=" + DumpFormat.Letter(Format) };
        if (PgDumpCompresses) args.Add("--compress=" + Compression.Level.ToString(System.Globalization.CultureInfo.InvariantCulture));
        else if (Format is DumpFormat.Custom or DumpFormat.Directory) args.Add("--compress=0"); // PgVault compresses
        if (Jobs > 1) args.Add("--jobs=" + Jobs);
        args.AddRange(Tables.Select(t => "--table=" + t));
        args.AddRange(ExcludeTables.Select(t => "--exclude-table=" + t));
        args.AddRange(Schemas.Select(s => "--schema=" + s));
        args.AddRange(ExcludeSchemas.Select(s => "--exclude-schema=" + s));
        if (DataOnly) args.Add("--data-only");
        if (SchemaOnly) args.Add("--schema-only");
        return args;
    }
}

/// <summary>What `pgvault restore` of a logical backup was asked to do.</summary>
public sealed record LogicalRestoreOptions
{
    public string BackupId { get; init; } = "latest";
    /// <summary>The server to restore into; null: the vault's cluster (a restore drill passes its sandbox).</summary>
    public ConnInfo? Server { get; init; }
    public string? TargetDatabase { get; init; }
    public string? SourceDatabase { get; init; }
    public IReadOnlyList<string> Tables { get; init; } = [];
    public IReadOnlyList<string> Schemas { get; init; } = [];
    public bool SchemaOnly { get; init; }
    public bool DataOnly { get; init; }
    public int Jobs { get; init; } = 1;
    public bool Globals { get; init; }
    public bool Clean { get; init; }

    public void Validate()
    {
        if (DataOnly && SchemaOnly)
            throw PgVaultException.Usage("--data-only and --schema-only exclude each other");
        if (DataOnly && Clean)
            throw PgVaultException.Usage("--data-only and --clean exclude each other (a data-only restore loads into the existing tables)");
        if (Jobs < 1 || Jobs > 64)
            throw PgVaultException.Usage($"--jobs {Jobs} is out of range (1 to 64)");
    }
}
