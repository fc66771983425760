using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using PgVault.Core.Errors;
using PgVault.Core.Progress;
using Spectre.Console;

namespace PgVault.Cli.Infrastructure;

/// <summary>
/// Everything a command shows: results on stdout (tables, or JSON with --output json), and
/// progress on a terminal as bars, otherwise as timestamped log lines on stderr.
/// </summary>
internal sealed class Renderer(bool json, bool verbose)
{
    public bool Json => json;

    public bool Verbose => verbose;

    /// <summary>True when a person watches: progress bars and colour.</summary>
    public bool Interactive => !json && !Console.IsOutputRedirected && !Console.IsErrorRedirected;

    /// <summary>An error line (and hint) on stderr only; see <see cref="Fail"/> for a command's failure.</summary>
    public void Error(string message, string? hint)
    {
        Console.Error.WriteLine($"pgvault: error: {message}");
        if (hint != null) Console.Error.WriteLine($"HINT: {hint}");
    }

    /// <summary>
    /// The error that ends a command: the usual lines on stderr and, with --output json, also
    /// <c>{"error":{"code":...,"message":...,"hint":...}}</c> on stdout (see docs/errors.md).
    /// </summary>
    public void Fail(ErrorCode code, string message, string? hint)
    {
        Error(message, hint);
        if (json) WriteError(code, message, hint);
    }

    /// <summary>Writes the JSON error object on stdout.</summary>
    public static void WriteError(ErrorCode code, string message, string? hint)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteStartObject("error");
            writer.WriteString("code", code.WireName());
            writer.WriteString("message", message);
            if (hint != null) writer.WriteString("hint", hint);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }
        Console.Out.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }

    public void Line(string text) => Console.Out.WriteLine(text);

    /// <summary>A warning on stderr that does not stop the command.</summary>
    public void Warn(string message) => Console.Error.WriteLine($"pgvault: warning: {message}");

    public void WriteJson<T>(T value, JsonTypeInfo<T> typeInfo)
    {
        Console.Out.WriteLine(JsonSerializer.Serialize(value, typeInfo));
    }

    /// <summary>Prints rows with a header: a Spectre table on a terminal, aligned plain text otherwise.</summary>
    public void Table(string[] header, IEnumerable<string[]> rows)
    {
        var all = rows.ToList();
        if (Interactive)
        {
            var table = new Table().Border(TableBorder.Rounded);
            foreach (var h in header) table.AddColumn(new TableColumn(Markup.Escape(h)));
            foreach (var row in all) table.AddRow(row.Select(Markup.Escape).ToArray());
            AnsiConsole.Write(table);
            return;
        }
        var widths = header.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        Console.Out.WriteLine(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var row in all)
        {
            Console.Out.WriteLine(string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }
    }

    /// <summary>Timestamped log lines on stderr, whatever the output is (for long-running commands).</summary>
    public IProgressSink LogLines() => new LogProgress(verbose);

    /// <summary>Runs <paramref name="work"/> with a progress sink suited to where the output goes.</summary>
    public async Task<T> WithProgressAsync<T>(Func<IProgressSink, Task<T>> work)
    {
        if (!Interactive) return await work(new LogProgress(verbose)).ConfigureAwait(false);
        T result = default!;
        await AnsiConsole.Progress()
            .AutoClear(true)
            .HideCompleted(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx => result = await work(new BarProgress(ctx)).ConfigureAwait(false))
            .ConfigureAwait(false);
        return result;
    }

    /// <summary>Timestamped lines on stderr, for logs and pipes.</summary>
    private sealed class LogProgress(bool verbose) : IProgressSink
    {
        public void Info(string message) => Write("INFO", message);

        public void Warn(string message) => Write("WARN", message);

        public IProgressTask Start(string description, long? totalBytes = null) => new LogTask(this, description, verbose);

        private static void Write(string level, string message) =>
            Console.Error.WriteLine($"{DateTime.Now.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} {level,-4} {message}");

        private sealed class LogTask(LogProgress owner, string description, bool verbose) : IProgressTask
        {
            private long _done;

            public void Report(long doneBytes) => _done = doneBytes;

            public void Dispose()
            {
                if (verbose) owner.Info($"{description}: {PgVault.Core.Units.Bytes(_done)}");
            }
        }
    }

    /// <summary>Spectre progress bars on a terminal.</summary>
    private sealed class BarProgress(ProgressContext context) : IProgressSink
    {
        public void Info(string message) => AnsiConsole.MarkupLine(Markup.Escape(message));

        public void Warn(string message) => AnsiConsole.MarkupLine("[yellow]" + Markup.Escape(message) + "[/]");

        public IProgressTask Start(string description, long? totalBytes = null)
        {
            var task = context.AddTask(Markup.Escape(description), maxValue: Math.Max(totalBytes ?? 1, 1));
            task.IsIndeterminate = totalBytes is null;
            return new BarTask(task, totalBytes is null);
        }

        private sealed class BarTask(ProgressTask task, bool open) : IProgressTask
        {
            public void Report(long doneBytes)
            {
                if (open) task.MaxValue = Math.Max(doneBytes, 1);
                task.Value = doneBytes;
            }

            public void Dispose()
            {
                task.Value = task.MaxValue;
                task.StopTask();
            }
        }
    }
}
