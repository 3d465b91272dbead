using System.Management.Automation;
using SecretsPS.Core;
using SecretsPS.Core.Config;
using SecretsPS.Core.Discovery;

namespace SecretsPS.Commands;

/// <summary>
/// Lists every text column that holds stored values, with its rows by version, so that a cleanup cannot miss one: its
/// output pipes into Remove-UnusedEncryptionKey (Table and Column by property name). Reads only, in read-only transactions.
/// </summary>
[Cmdlet(VerbsCommon.Find, "EncryptedColumn")]
[OutputType(typeof(EncryptedColumn))]
public sealed class FindEncryptedColumnCommand : KeyedDatabaseCmdlet
{
    /// <summary>Only this table ("table" or "schema.table").</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? Table { get; set; }

    /// <summary>Only this schema (SQLite: an attached database).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Schema { get; set; }

    /// <summary>Read at most this many non-NULL values of each column instead of counting every row.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? SampleRows { get; set; }

    /// <summary>Stop searching after this long; the columns not reached are reported as errors.</summary>
    [Parameter]
    [TimeSpanNotANumber]
    public TimeSpan? MaxDuration { get; set; }

    private readonly CancellationTokenSource _stop = new();

    protected override void End()
    {
        using var config = KeyConfiguration.Load(ResolveKeyFile());
        var connectionString = ResolveConnectionString();
        var dialect = Dialect;
        var progress = new ProgressRecord(1, CommandMessages.FindProgressActivity, " ");
        EncryptedColumnSearchResult result;
        using (var connection = Core.Data.DatabaseConnection.Open(dialect, connectionString, SignIn, readOnly: true))
        {
            result = EncryptedColumnFinder.Find(dialect, connection, config.Ring, new EncryptedColumnSearch
            {
                Schema = Schema,
                Table = Table,
                SampleRows = SampleRows,
                TimeLimit = MaxDuration,
                Progress = p =>
                {
                    progress.StatusDescription = Localized.Format(CommandMessages.FindProgressStatus, p.Searched, p.Total, p.Current);
                    progress.PercentComplete = p.Total == 0 ? 100 : (int)(100L * p.Searched / p.Total);
                    progress.RecordType = p.Searched == p.Total ? ProgressRecordType.Completed : ProgressRecordType.Processing;
                    WithoutPrompt(() => WriteProgress(progress));
                },
            }, _stop.Token);
        }
        foreach (var found in result.Found)
        {
            if (found.UnknownVersions.Count > 0)
                Warning(Localized.Format(CommandMessages.FoundUnknownVersions, found.Target, string.Join(", ", found.UnknownVersions)));
            Verbose($"{found.Target}: {found.Versions}");
            WriteObject(found);
        }
        foreach (var missed in result.NotSearched)
        {
            var message = missed.Reason switch
            {
                UnsearchedReason.TimeLimit => Localized.Format(CommandMessages.ColumnNotSearchedTime, missed.Target, MaxDuration),
                UnsearchedReason.ReadFailed => Localized.Format(CommandMessages.ColumnNotSearchedRead, missed.Target, missed.Detail),
                _ => Localized.Format(CommandMessages.ColumnNotSearchedName, missed.Target),
            };
            Error(new SecretsPSException(ErrorIds.ColumnNotSearched,
                missed.Reason == UnsearchedReason.TimeLimit ? ErrorKind.OperationStopped : ErrorKind.ResourceUnavailable, message,
                target: missed.Target), missed.Target);
        }
    }

    /// <summary>Ctrl+C cancels the query in the database (a full count reads whole columns).</summary>
    protected override void StopProcessing() => _stop.Cancel();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _stop.Dispose();
        base.Dispose(disposing);
    }
}
