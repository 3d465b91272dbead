using System.Management.Automation;
using SecretsPS.Core;
using SecretsPS.Core.Reencryption;

namespace SecretsPS.Commands;

/// <summary>flask secrets cleanup-jobs: removes old finished jobs and stalled ones (running/pending without a heartbeat).</summary>
[Cmdlet(VerbsCommon.Remove, "ReencryptJob", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "ByAge")]
[OutputType(typeof(ReencryptJob))]
public sealed class RemoveReencryptJobCommand : JobTableCmdlet
{
    /// <summary>Remove finished jobs that ended more than this many days ago.</summary>
    [Parameter(ParameterSetName = "ByAge")]
    [ValidateRange(0, 36500)]
    public int FinishedOlderThan { get; set; } = 7;

    /// <summary>Remove running or pending jobs whose heartbeat is older than this many days.</summary>
    [Parameter(ParameterSetName = "ByAge")]
    [ValidateRange(0, 36500)]
    public int StalledOlderThan { get; set; } = 7;

    /// <summary>Jobs to remove, e.g. piped from Get-ReencryptJob.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "ById", ValueFromPipelineByPropertyName = true)]
    [ValidateRange(1, long.MaxValue)]
    [ArgumentCompleter(typeof(JobIdCompleter))]
    public long[] Id { get; set; } = Array.Empty<long>();

    /// <summary>
    /// A running job whose heartbeat is older than this (or whose runner is gone: the server restarted since its heartbeat,
    /// or its process on this machine has exited) is stale and may be removed; Start-Reencryption -StaleAfter's rule.
    /// </summary>
    [Parameter]
    public TimeSpan StaleAfter { get; set; } = JobStaleness.DefaultStaleAfter;

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>
    /// The piped job itself, only to see the database it names when a typed -ConnectionString kept PowerShell from binding
    /// it: removing job 7 of another database than the job's own would be silent and wrong. Hidden: not a way to name a job.
    /// </summary>
    [Parameter(ParameterSetName = "ById", ValueFromPipeline = true, DontShow = true)]
    public PSObject? InputObject { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void Process()
    {
        RefuseRecordOfOtherDatabase(InputObject);
        var connectionString = ResolveConnectionString();
        var dialect = Dialect;
        var store = new JobStore(dialect, JobTable);
        using var connection = Core.Data.DatabaseConnection.Open(dialect, connectionString, SignIn, readOnly: false);
        // Without job tables there is nothing to clean up by age, and no job a given id could name.
        var tablesExist = store.TablesExist(connection);
        if (!tablesExist && ParameterSetName != "ById") return;

        IEnumerable<ReencryptJob> candidates;
        if (ParameterSetName == "ById")
        {
            var found = new List<ReencryptJob>();
            foreach (var id in Id)
            {
                var job = tablesExist ? store.Get(connection, null, id) : null;
                if (job is null) Error(JobNotFound(id), id);
                else found.Add(job);
            }
            candidates = found;
        }
        else
        {
            var now = DateTime.UtcNow;
            candidates = store.List(connection, null, null, null, int.MaxValue).Where(j =>
                j.StatusKind.HasEnded() && (j.FinishedAt ?? j.UpdatedAt ?? j.CreatedAt) < now.AddDays(-FinishedOlderThan)
                || j.StatusKind is JobStatus.Running or JobStatus.Pending && (j.UpdatedAt ?? j.CreatedAt) < now.AddDays(-StalledOlderThan));
        }

        var serverStarted = dialect.ServerStartTime(connection, null);
        bool hasChunks = tablesExist && store.ChunkTableExists(connection);
        foreach (var job in candidates.ToList())
        {
            // The engine's rule (JobStaleness): what Start-Reencryption would take over may be removed, nothing else that runs;
            // a job worked in chunks runs while any of its chunks' runners does.
            var chunks = hasChunks && job.StatusKind == JobStatus.Running ? store.Chunks.All(connection, null, job.Id) : Array.Empty<ReencryptJobChunk>();
            if (job.StatusKind == JobStatus.Running && !JobStaleness.IsStale(job, chunks, DateTime.UtcNow, StaleAfter, serverStarted))
            {
                Error(new SecretsPSException(ErrorIds.JobRunning, ErrorKind.InvalidOperation,
                    Localized.Format(CommandMessages.JobRunning, job.Id, job.UpdatedAt), target: job.Id.ToString()), job.Id);
                continue;
            }
            if (!ShouldChange(Localized.Format(CommandMessages.JobTarget, job.Id, job.Target, job.Status), CommandMessages.RemoveJobAction, Force)) continue;
            store.Delete(connection, job.Id);
            Verbose(Localized.Format(CommandMessages.RemovedJob, job.Id, job.Target, job.Status));
            if (PassThru) WriteObject(Located(job, connectionString));
        }
    }
}
