using System.CommandLine;
using PgVault.Cli.Infrastructure;
using PgVault.Cli.Output;
using PgVault.Core.Errors;
using PgVault.Core.Streaming;
using PgVault.Core.Vault;

namespace PgVault.Cli.Commands;

/// <summary>
/// `pgvault wal-stream`: streams WAL into the archive in the foreground until SIGINT/SIGTERM (a
/// clean stop, exit 0 with the result), or only creates / drops the slot.
/// </summary>
internal static class WalStreamCommand
{
    private static readonly Option<string?> Slot = new("--slot") { Description = "Physical replication slot to stream from (default: streaming.slot of the cluster, else pgvault_<cluster>)" };
    private static readonly Option<bool> CreateSlot = new("--create-slot") { Description = "Create the slot (reserving WAL at once) and exit; an existing slot is reported, not an error" };
    private static readonly Option<bool> DropSlot = new("--drop-slot") { Description = "Drop the slot (the server frees the WAL it retains) and exit" };
    private static readonly Option<bool> Synchronous = new("--synchronous") { Description = "Report flush after each received chunk is fsynced: with synchronous_standby_names naming --application-name, commits wait for it (RPO 0)" };
    private static readonly Option<string?> ApplicationName = new("--application-name") { Description = "application_name of the replication connection, the name to list in synchronous_standby_names (default: streaming.application_name, else pgvault_<cluster>)" };
    private static readonly Option<int?> StatusInterval = new("--status-interval") { Description = "Seconds between status messages to the server and, asynchronous, between fsyncs of the spool (default: streaming.status_interval, else 10)" };

    public static Command Build()
    {
        var command = new Command("wal-stream",
            "Stream WAL over the replication protocol into the archive (foreground; SIGINT/SIGTERM stop it cleanly): RPO of seconds, or 0 with --synchronous")
        {
            Slot, CreateSlot, DropSlot, Synchronous, ApplicationName, StatusInterval,
        };
        CommandRunner.SetAction(command, RunAsync);
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Renderer renderer, CancellationToken ct)
    {
        bool create = result.GetValue(CreateSlot), drop = result.GetValue(DropSlot);
        if (create && drop) throw PgVaultException.Usage("--create-slot and --drop-slot exclude each other");
        var options = new WalStreamOptions
        {
            Action = create ? WalStreamAction.CreateSlot : drop ? WalStreamAction.DropSlot : WalStreamAction.Stream,
            Slot = result.GetValue(Slot),
            ApplicationName = result.GetValue(ApplicationName),
            Synchronous = result.GetValue(Synchronous) ? true : null,
            StatusIntervalSeconds = result.GetValue(StatusInterval),
        };
        var vault = Vault.Open(Globals.Read(result));
        vault.RequireRepository();
        // Log lines, never a progress bar: this runs for days.
        var streamed = await new WalStreamer(vault, renderer.LogLines()).RunAsync(options, ct).ConfigureAwait(false);
        if (renderer.Json)
        {
            renderer.WriteJson(streamed, CliJson.Default.WalStreamResult);
            return 0;
        }
        renderer.Line(streamed.Action switch
        {
            "created" => $"created replication slot {streamed.Slot} (restart_lsn {streamed.StartLsn})",
            "exists" => $"replication slot {streamed.Slot} already exists (restart_lsn {streamed.StartLsn})",
            "dropped" => $"dropped replication slot {streamed.Slot}",
            "absent" => $"replication slot {streamed.Slot} does not exist",
            _ => $"stopped: timeline {streamed.Timeline}, flushed to {streamed.FlushedLsn ?? "-"}, archived to {streamed.ArchivedLsn ?? "-"}, " +
                $"{streamed.SegmentsArchived} segment(s), {streamed.HistoryFilesArchived} history file(s), {streamed.PartialsArchived} partial(s), {streamed.Reconnects} reconnect(s)",
        });
        return 0;
    }
}
