namespace PgVault.Core.Config;

/// <summary>
/// <c>clusters.NAME.objectives</c>: what the DBA promises (recovery point and time objectives) and
/// how fresh the proofs must be. Any may be left out; <c>pgvault report</c> judges those given.
/// </summary>
public sealed record ObjectivesConfig
{
    public TimeSpan? Rpo { get; init; }
    public TimeSpan? Rto { get; init; }
    public TimeSpan? DrillMaxAge { get; init; }
    public TimeSpan? VerifyMaxAge { get; init; }

    public double? RpoSeconds => Rpo?.TotalSeconds;

    public double? RtoSeconds => Rto?.TotalSeconds;
}
