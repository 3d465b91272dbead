using System.Management.Automation;
using SecretsPS.Core;
using SecretsPS.Core.Reencryption;

namespace SecretsPS.Commands;

/// <summary>flask secrets list-jobs: the re-encryption jobs of a database, newest first.</summary>
[Cmdlet(VerbsCommon.Get, "ReencryptJob")]
[OutputType(typeof(ReencryptJob))]
[OutputType(typeof(ReencryptJobChunk))]
public sealed class GetReencryptJobCommand : JobTableCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateRange(1, long.MaxValue)]
    [ArgumentCompleter(typeof(JobIdCompleter))]
    public long? Id { get; set; }

    [Parameter]
    [ValidateSet("Pending", "Running", "Paused", "Finished", "Incomplete", "Failed", IgnoreCase = true)]
    public string[]? Status { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableCompleter))]
    public string? Table { get; set; }

    [Parameter]
    [ValidateRange(1, 100000)]
    public int First { get; set; } = 20;

    /// <summary>The chunks of the jobs instead of the jobs: each key range with its cursor, counters, state and runner.</summary>
    [Parameter]
    public SwitchParameter Detailed { get; set; }

    protected override void Process()
    {
        var connectionString = ResolveConnectionString();
        var dialect = Dialect;
        var store = new JobStore(dialect, JobTable);
        using var connection = Core.Data.DatabaseConnection.Open(dialect, connectionString, SignIn, readOnly: true);
        if (!store.TablesExist(connection))
        {
            Verbose(Localized.Format(CommandMessages.NoJobTable, dialect.Describe(connectionString), store.Jobs));
            if (Id is { } missing) Error(JobNotFound(missing), missing);
            return;
        }
        var statuses = Status?.Select(JobStatusText.Parse).ToList();
        var jobs = store.List(connection, Id, statuses, Table, First);
        if (Detailed)
        {
            // Job tables of an older version have no chunk table: their jobs have no chunks to show.
            if (store.ChunkTableExists(connection))
            {
                foreach (var job in jobs)
                foreach (var chunk in store.Chunks.All(connection, null, job.Id))
                    WriteObject(chunk);
            }
            else dialect.ReadAgainAfterFailure(connection); // the failed probe ended PostgreSQL's read-only transaction
        }
        else
        {
            foreach (var job in jobs) WriteObject(Located(job, connectionString));
        }
        // A job asked for by id that does not exist is an error, as Get-Process -Id is; one filtered out by -Status or -Table is not.
        if (Id is { } id && jobs.Count == 0 && store.Get(connection, null, id) is null) Error(JobNotFound(id), id);
    }
}
