using System.Diagnostics;

namespace PgVault.Core.PostgreSql;

/// <summary>
/// The environment of every program PgVault starts (pg_dump, pg_restore, psql, pg_ctl, initdb and
/// the servers they start): built from an allow-list, not by removing what looks secret, so the
/// repository passphrase variable, PGVAULT_* settings and S3 credentials (AWS_* or the configured
/// variable names) never reach a child. PGPASSWORD is not inherited either: a client program gets it
/// only through <see cref="ConnInfo.ChildEnvironment"/>, when it connects with a password.
/// </summary>
public static class ChildEnvironment
{
    /// <summary>Inherited as they are: locale, paths and time zone.</summary>
    private static readonly HashSet<string> Plain = new(StringComparer.Ordinal)
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "LD_LIBRARY_PATH",
        "KRB5CCNAME", "KRB5_CONFIG", "KRB5_KTNAME",
    };

    /// <summary>libpq's connection variables, except PGPASSWORD (see the class summary).</summary>
    private static readonly HashSet<string> Libpq = new(StringComparer.Ordinal)
    {
        "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS",
        "PGAPPNAME", "PGSSLMODE", "PGREQUIRESSL", "PGSSLCOMPRESSION", "PGSSLCERT", "PGSSLKEY", "PGSSLROOTCERT", "PGSSLCRL",
        "PGSSLCRLDIR", "PGSSLSNI", "PGREQUIREPEER", "PGSSLMINPROTOCOLVERSION", "PGSSLMAXPROTOCOLVERSION", "PGGSSENCMODE",
        "PGKRBSRVNAME", "PGGSSLIB", "PGCONNECT_TIMEOUT", "PGCLIENTENCODING", "PGTARGETSESSIONATTRS", "PGCHANNELBINDING",
        "PGDATESTYLE", "PGTZ", "PGGEQO", "PGSYSCONFDIR", "PGLOCALEDIR",
    };

    private static readonly HashSet<string> Secrets = new(StringComparer.Ordinal);

    /// <summary>
    /// Names a variable that holds a secret (the configured passphrase or S3 credential variable): it
    /// is never passed on, even if its name is on the allow-list.
    /// </summary>
    public static void MarkSecret(string? name)
    {
        if (string.IsNullOrEmpty(name)) return;
        lock (Secrets) Secrets.Add(name);
    }

    /// <summary>True when a child may inherit <paramref name="name"/> from this process.</summary>
    public static bool MayInherit(string name)
    {
        lock (Secrets)
        {
            if (Secrets.Contains(name)) return false;
        }
        return Plain.Contains(name) || Libpq.Contains(name) || name.StartsWith("LC_", StringComparison.Ordinal);
    }

    /// <summary>
    /// Replaces the environment of <paramref name="psi"/> with the allowed part of this process's
    /// environment plus <paramref name="additions"/> (e.g. PGPASSWORD for a client that needs it).
    /// </summary>
    public static void Apply(ProcessStartInfo psi, IReadOnlyDictionary<string, string>? additions = null)
    {
        var inherited = psi.Environment.Where(kv => MayInherit(kv.Key)).ToList();
        psi.Environment.Clear();
        foreach (var (key, value) in inherited) psi.Environment[key] = value;
        if (additions != null)
        {
            foreach (var (key, value) in additions) psi.Environment[key] = value;
        }
    }
}
