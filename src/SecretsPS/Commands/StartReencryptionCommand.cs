using System.Diagnostics;
using System.Management.Automation;
using SecretsPS.Core;
using SecretsPS.Core.Config;
using SecretsPS.Core.Reencryption;

namespace SecretsPS.Commands;

/// <summary>
/// flask secrets reencrypt: moves every value of a column to the active key version, online, resumable,
/// one batch per transaction with its cursor. Table and Column bind from the pipeline by property name.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "Reencryption", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ReencryptJob), typeof(ReencryptionPreview))]
public sealed class StartReencryptionCommand : PipedDatabaseCmdlet
{
    private const int ProgressActivityId = 7411;
    private readonly CancellationTokenSource _stop = new();
    private KeyConfiguration? _config;
    private System.Runtime.InteropServices.PosixSignalRegistration? _sigterm;
    private volatile bool _terminated;
    private volatile bool _running;

    /// <summary>The exit code of a process ended by SIGTERM (128 + 15), as a shell reports it.</summary>
    private const int TerminatedExitCode = 143;

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableCompleter))]
    public string Table { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ColumnCompleter))]
    public string Column { get; set; } = "";

    /// <summary>A unique, non-NULL column to page by; default: the table's single-column primary key.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    [AllowNull]
    [ArgumentCompleter(typeof(ColumnCompleter))]
    public string? KeyColumn { get; set; }

    [Parameter]
    [ValidateRange(1, 100000)]
    public int BatchSize { get; set; } = ReencryptionDefaults.BatchSize;

    [Parameter]
    [ValidateRange(1, 10000000)]
    public int CommitEvery { get; set; } = ReencryptionDefaults.CommitEvery;

    /// <summary>Continue the latest unfinished job of the same target (a new one if there is none).</summary>
    [Parameter]
    public SwitchParameter Resume { get; set; }

    /// <summary>Continue this job.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    [ArgumentCompleter(typeof(JobIdCompleter))]
    public long? JobId { get; set; }

    /// <summary>Stop cleanly (job paused) after this long: fits a runbook's time limit.</summary>
    [Parameter]
    [TimeSpanNotANumber]
    public TimeSpan? MaxDuration { get; set; }

    /// <summary>Stop cleanly (job paused) after this many rows in this run.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long? MaxRows { get; set; }

    /// <summary>Fail the job once more rows than this have failed.</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long? MaxErrors { get; set; }

    /// <summary>Encrypt values that are not ciphertext (migrating a plaintext column) instead of reporting them.</summary>
    [Parameter]
    public SwitchParameter EncryptPlaintext { get; set; }

    /// <summary>The job table in the target database (its error table is named after it).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string JobTable { get; set; } = Core.Reencryption.JobStore.DefaultTable;

    /// <summary>A running job whose heartbeat is older than this may be resumed by another run.</summary>
    [Parameter]
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Workers in this process, each with its own connection, each claiming the next free chunk of the job.</summary>
    [Parameter]
    [ValidateRange(1, ReencryptionOptions.MaxThrottleLimit)]
    public int ThrottleLimit { get; set; } = 1;

    /// <summary>Take part in the target's running job (its free or stale chunks) instead of failing with JobAlreadyRunning.</summary>
    [Parameter]
    public SwitchParameter Join { get; set; }

    /// <summary>Rows per chunk of a new job (at most 1,000 chunks): the unit of work that runners claim.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int ChunkSize { get; set; } = ChunkPlan.DefaultChunkRows;

    protected override void Begin()
    {
        _config = KeyConfiguration.Load(ResolveKeyFile());
        // A scheduler's SIGTERM gets what Ctrl+C gets: the batch in hand commits and the job is paused.
        _sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
        {
            if (!_running) return; // between runs there is no batch in hand: the default (the process ends) is right
            context.Cancel = true;
            _terminated = true;
            _stop.Cancel();
        });
    }

    protected override void Process()
    {
        RefuseRecordOfOtherDatabase();
        if (TimeIsUp()) return;
        var connectionString = ResolveConnectionString();
        var engine = new Core.Reencryption.ReencryptionEngine(Dialect, connectionString, SignIn, _config!.Ring);
        var options = new ReencryptionOptions
        {
            Table = Table,
            Column = Column,
            KeyColumn = string.IsNullOrWhiteSpace(KeyColumn) ? null : KeyColumn, // an empty CSV cell means "the primary key"
            BatchSize = BatchSize,
            CommitEvery = CommitEvery,
            Resume = Resume,
            JobId = JobId,
            MaxDuration = TimeLeft(),
            MaxRows = MaxRows,
            MaxErrors = MaxErrors,
            EncryptPlaintext = EncryptPlaintext,
            StaleAfter = StaleAfter,
            JobTable = JobTable,
            ThrottleLimit = ThrottleLimit,
            Join = Join,
            ChunkRows = ChunkSize,
        };
        var target = Localized.Format(CommandMessages.ReencryptTarget, Table + "." + Column, Dialect.Describe(connectionString));
        var observer = new CmdletObserver(this, Table + "." + Column);
        try
        {
            options.Validate(Dialect.Provider); // before "What if" or a confirmation: a rehearsal refuses what the run refuses
            if (!ShouldChange(target, Localized.Format(CommandMessages.ReencryptAction, _config.Ring.Active.Name), force: false))
            {
                if (!IsWhatIf) return;
                var preview = engine.Preview(options, observer, _stop.Token);
                observer.WriteRowErrors(null);
                Verbose(Localized.Format(CommandMessages.ReencryptPreview, preview.WouldReencrypt, preview.TargetVersion, preview.AlreadyAtTarget, preview.Errors));
                WriteObject(preview);
                return;
            }
            _running = true;
            ReencryptJob job;
            try { job = engine.Run(options, observer, _stop.Token); }
            finally { _running = false; }
            observer.WriteRowErrors(job.Id);
            var summary = Localized.Format(CommandMessages.JobSummary, job.Id, job.Status, job.Processed, job.Skipped, job.TargetVersion, job.Errors, StoredText.Display(job.Message));
            // The job is saved (paused): a stopped pipeline ends as stopped, so the host sees Ctrl+C took effect. The
            // pipeline's streams are closed by then; the host still shows where the job was left.
            if (Stopping)
            {
                TellStoppedHost(Localized.Format(CommandMessages.StoppedJobPaused, job.Id, job.Status));
                throw new PipelineStoppedException();
            }
            // A job left running is one whose other runners still work on it: this run stopped before it ended (the engine said so).
            if (job.StatusKind is JobStatus.Finished or JobStatus.Running && job.Errors == 0) Verbose(summary);
            else Warning(summary);
            job.Provider = Dialect.Provider.ToString();
            job.ConnectionString = Core.Data.ConnectionStringWithoutSecrets.From(connectionString);
            job.JobTable = JobTable;
            WriteObject(job);
            // The count at the end found values below the target: the next step of a rotation (removing the old key) would
            // destroy them, so a runbook with -ErrorAction Stop must stop here.
            if (CompletionProof.IncompleteError(job, _config.Ring) is { } incomplete) Error(incomplete, target);
            if (_terminated)
            {
                // SIGTERM asks the process to end: the job is saved, so end it, rather than let the script run on.
                var stopped = Localized.Format(CommandMessages.StoppedBySigterm, job.Id, job.Status);
                Warning(stopped);
                if (ShouldExitOnSigterm(Host, System.Management.Automation.Runspaces.Runspace.DefaultRunspace))
                {
                    Console.Error.WriteLine("Start-Reencryption: " + stopped); // the scheduler's log reads stderr
                    Dispose();
                    System.Environment.Exit(TerminatedExitCode);
                }
                // A host that embeds PowerShell owns its process: the job is paused, the command ends with an error, and
                // what happens to the process is the host's decision.
                throw new SecretsPSRuntimeException(new ErrorRecord(new OperationCanceledException(stopped), ErrorIds.Terminated, ErrorCategory.OperationStopped, target));
            }
        }
        catch (SecretsPSException e)
        {
            Error(e, target);
        }
        finally
        {
            observer.Complete();
        }
    }

    protected override void StopProcessing() => _stop.Cancel();

    /// <summary>Ctrl+C has closed the command's streams: the line goes to the log and straight to the host.</summary>
    private void TellStoppedHost(string message)
    {
        Log(Core.Audit.LogLevel.Warning, message);
        try { Host.UI.WriteWarningLine(message); }
        catch (Exception e) when (e is System.Management.Automation.Host.HostException or NotImplementedException or PSInvalidOperationException or IOException) { }
    }

    /// <summary>
    /// Whether SIGTERM, once the job is saved, ends the process (exit code 143). Only where the process is pwsh itself
    /// running a script or a command: the console host, in its own runspace. A runspace that an application, the VS Code
    /// extension, [powershell]::Create(), a thread job or ForEach-Object -Parallel created is not the process's: there
    /// the command only pauses the job and stops with the terminating error Terminated.
    /// </summary>
    internal static bool ShouldExitOnSigterm(System.Management.Automation.Host.PSHost? host, System.Management.Automation.Runspaces.Runspace? runspace)
    {
        if (host is null || runspace is null || host.Name != "ConsoleHost") return false;
        try
        {
            return host is System.Management.Automation.Host.IHostSupportsInteractiveSession session && ReferenceEquals(session.Runspace, runspace);
        }
        catch (Exception e) when (e is PSNotImplementedException or NotImplementedException or PSInvalidOperationException)
        {
            return false;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _sigterm?.Dispose();
            _config?.Dispose();
            _stop.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <summary>
    /// -MaxDuration is the whole command's time, across the records of a pipeline (a fleet CSV): a runbook's window holds
    /// the command, not each database. Each record's run gets what is left.
    /// </summary>
    private TimeSpan? TimeLeft() =>
        MaxDuration is { } limit ? (limit > _sinceStart.Elapsed ? limit - _sinceStart.Elapsed : TimeSpan.Zero) : null;

    private readonly Stopwatch _sinceStart = Stopwatch.StartNew();
    private bool _recordStarted;

    /// <summary>
    /// Once -MaxDuration has passed, the next records are not started (nothing is written to their databases): a warning
    /// names each, and the next run (-Resume) starts them. The first record always runs, as a single run does.
    /// </summary>
    private bool TimeIsUp()
    {
        var first = !_recordStarted;
        _recordStarted = true;
        if (first || TimeLeft() != TimeSpan.Zero) return false;
        Warning(Localized.Format(CommandMessages.NotStartedTimeUp, Table + "." + Column, DescribeDatabase(ConnectionString ?? System.Environment.GetEnvironmentVariable(ConnectionVariable)), MaxDuration));
        return true;
    }

    /// <summary>Progress at most a few times a second; row errors as non-terminating errors; nothing once the pipeline stops.</summary>
    private sealed class CmdletObserver : IReencryptionObserver
    {
        private readonly StartReencryptionCommand _cmdlet;
        private readonly ProgressRecord _record;
        private readonly Stopwatch _sinceLast = Stopwatch.StartNew();
        private bool _shown;

        public CmdletObserver(StartReencryptionCommand cmdlet, string target)
        {
            _cmdlet = cmdlet;
            _record = new ProgressRecord(ProgressActivityId, Localized.Format(CommandMessages.ProgressActivity, target), CommandMessages.ProgressStarting);
        }

        public void Progress(ReencryptionProgress p)
        {
            if (_cmdlet.Stopping || (_shown && _sinceLast.ElapsedMilliseconds < 250)) return;
            _sinceLast.Restart();
            _shown = true;
            _record.StatusDescription = Localized.Format(CommandMessages.ProgressStatus, p.Done, p.TotalRows, p.Skipped, p.Errors, p.RowsPerSecond);
            _record.PercentComplete = p.TotalRows > 0 ? (int)Math.Min(100, p.Done * 100 / p.TotalRows) : -1;
            _record.SecondsRemaining = p.TimeLeft is { } t ? (int)t.TotalSeconds : -1;
            _cmdlet.WriteProgress(_record);
        }

        /// <summary>
        /// Row errors are held and written after the run, so that -ErrorAction Stop (or a runbook's
        /// $ErrorActionPreference = 'Stop') ends the script after the job is saved, not in the middle of a batch.
        /// </summary>
        public void RowFailed(string target, string rowKey, RowError error)
        {
            _failedRows++;
            if (_rowErrors.Count < MaxHeldRowErrors) _rowErrors.Add((target, rowKey, error));
            if (!_cmdlet.Stopping) _cmdlet.Log(Core.Audit.LogLevel.Error, Localized.Format(CommandMessages.RowFailed, target, rowKey, Shown(error)));
        }

        /// <summary>A row error in the user's language; a column of bad rows repeats a few reasons, translated once each.</summary>
        private string Shown(RowError error)
        {
            if (!_translated.TryGetValue(error.Reason, out var reason))
            {
                reason = StoredText.Display(error.Reason)!;
                if (_translated.Count < 1000) _translated[error.Reason] = reason;
            }
            return error.ErrorId + ": " + reason;
        }

        private readonly Dictionary<string, string> _translated = new(StringComparer.Ordinal);

        /// <summary>The first rows are errors; the rest are one summary, since a column of bad rows must not bury the console.</summary>
        internal const int MaxHeldRowErrors = 10;
        private readonly List<(string Target, string RowKey, RowError Error)> _rowErrors = new();
        private long _failedRows;

        /// <param name="jobId">The job whose error table holds every row, or null for -WhatIf, which records nothing.</param>
        public void WriteRowErrors(long? jobId)
        {
            if (_cmdlet.Stopping) return;
            foreach (var (target, rowKey, error) in _rowErrors)
                _cmdlet.WriteError(ToErrorRecord(new SecretsPSException(error.ErrorId, ErrorKind.InvalidData, Localized.Format(CommandMessages.RowFailed, target, rowKey, Shown(error)), target: rowKey), rowKey));
            if (_failedRows > _rowErrors.Count)
                _cmdlet.Warning(jobId is { } id
                    ? Localized.Format(CommandMessages.MoreRowErrorsRecorded, _failedRows - _rowErrors.Count, _failedRows, id)
                    : Localized.Format(CommandMessages.MoreRowErrorsRehearsed, _failedRows - _rowErrors.Count, _failedRows));
            _rowErrors.Clear();
            _failedRows = 0;
        }

        public void Info(string message)
        {
            if (!_cmdlet.Stopping) _cmdlet.Verbose(message);
        }

        public void Complete()
        {
            if (!_shown || _cmdlet.Stopping) return;
            _record.RecordType = ProgressRecordType.Completed;
            _cmdlet.WriteProgress(_record);
        }

        /// <summary>A transient database failure the run retries: a warning, so an unattended runbook's output shows it.</summary>
        public void Warning(string message)
        {
            if (!_cmdlet.Stopping) _cmdlet.Warning(message);
        }
    }
}
