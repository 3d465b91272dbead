using System.Management.Automation;
using SecretsPS.Core;
using SecretsPS.Core.Audit;

namespace SecretsPS.Commands;

/// <summary>
/// flask secrets cleanup-keys: removes versions older than the newest -Keep that no named target still uses,
/// with a backup, an audit trail, a check of the new file against the data, and automatic rollback.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "UnusedEncryptionKey", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(KeyCleanupOperation))]
public sealed class RemoveUnusedEncryptionKeyCommand : PipedDatabaseCmdlet
{
    private readonly List<CleanupTarget> _targets = new();

    /// <summary>A table whose column holds encrypted values (one or more targets; pipeline by property name).</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableCompleter))]
    public string? Table { get; set; }

    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ColumnCompleter))]
    public string? Column { get; set; }

    /// <summary>How many of the newest versions are always kept.</summary>
    [Parameter]
    [ValidateRange(1, 1000)]
    public int Keep { get; set; } = 3;

    /// <summary>Do not count the rows that use each candidate. Without a target, only together with -Force.</summary>
    [Parameter]
    public SwitchParameter SkipUsageCheck { get; set; }

    /// <summary>How many values of each target are decrypted with the new key file before it is kept.</summary>
    [Parameter]
    [ValidateRange(1, 100000)]
    public int SampleSize { get; set; } = 200;

    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Do not search the database for other columns that hold a version to remove (recorded in the journal).</summary>
    [Parameter]
    public SwitchParameter SkipDiscovery { get; set; }

    /// <summary>
    /// Each target is in the database its record names (or the typed one), resolved now: the next record rebinds -Provider
    /// and -ConnectionString. One key file serves all of them, so a version goes only if no database uses it.
    /// </summary>
    protected override void Process()
    {
        if (Table is null && Column is null) return;
        if (Table is null || Column is null)
            throw new SecretsPSException(ErrorIds.TargetIncomplete, ErrorKind.InvalidArgument, CommandMessages.TargetIncomplete);
        RefuseRecordOfOtherDatabase();
        _targets.Add(new CleanupTarget(Table, Column) { Database = new TargetDatabase(Dialect, ResolveConnectionString()) });
    }

    /// <summary>The records make one operation: a record that cannot be a target (its database named twice, a half target) ends it, removing nothing.</summary>
    protected override bool RecordsStandAlone => false;

    protected override void End()
    {
        var keyFile = ResolveKeyFile();
        var request = new KeyCleanupRequest
        {
            KeyFile = keyFile,
            Keep = Keep,
            Targets = _targets,
            SkipUsageCheck = SkipUsageCheck,
            Force = Force,
            SampleSize = SampleSize,
            SignIn = SignIn,
            WhatIf = IsWhatIf,
            SkipDiscovery = SkipDiscovery,
        };
        var cleanup = new KeyCleanup(request, (level, message) =>
        {
            switch (level)
            {
                case Core.Audit.LogLevel.Warning: Warning(message); break;
                case Core.Audit.LogLevel.Error: Log(level, message); WithoutPrompt(() => WriteVerbose(message)); break;
                default: Verbose(message); break;
            }
        });
        var operation = cleanup.Run(versions =>
            ShouldChange(keyFile, Localized.Format(CommandMessages.RemoveUnusedAction, string.Join(", ", versions), cleanup.OperationId), Force));
        ReportDiscovery(operation, keyFile);
        foreach (var unread in operation.UnreadDatabases)
            Error(new SecretsPSException(ErrorIds.CleanupDatabaseUnreadable, ErrorKind.ResourceUnavailable,
                Localized.Format(CommandMessages.CleanupDatabaseUnreadable, unread.Database, unread.ErrorId), target: unread.Database), unread.Database);
        if (operation.OutcomeKind == CleanupOutcome.RolledBack)
            Error(new SecretsPSException(ErrorIds.CleanupRolledBack, ErrorKind.InvalidData,
                Localized.Format(CommandMessages.CleanupRolledBack, operation.OperationId, operation.Message, operation.BackupPath),
                target: keyFile), keyFile);
        WriteObject(operation);
    }

    /// <summary>
    /// A candidate kept because a column nobody named holds it is an error, naming the column: the operator forgot a target
    /// (runbooks stop on it with -ErrorAction Stop). Under -WhatIf, every column the search found is shown.
    /// </summary>
    private void ReportDiscovery(KeyCleanupOperation operation, string keyFile)
    {
        if (IsWhatIf)
            foreach (var d in operation.Discovered)
                WithoutPrompt(() => WriteInformation(new HostInformationMessage
                {
                    Message = Localized.Format(CommandMessages.WhatIfDiscovered, Shown(d), string.Join(", ", d.RowsByVersion.Select(kv => $"{kv.Key}={kv.Value}")),
                        d.Named ? CommandMessages.DiscoveredNamed : CommandMessages.DiscoveredNotNamed),
                }, new[] { "PSHOST" }));
        var notRemoved = operation.Candidates.Except(operation.Removed).ToList();
        foreach (var d in operation.Discovered.Where(d => !d.Named))
            foreach (var version in notRemoved.Where(v => d.RowsByVersion.ContainsKey(v)))
                Error(new SecretsPSException(ErrorIds.VersionUsedByUnnamedColumn, ErrorKind.InvalidOperation,
                    Localized.Format(CommandMessages.VersionUsedByUnnamedColumn, version, Shown(d), d.RowsByVersion[version], d.Table, d.Column),
                    target: Shown(d)), Shown(d));
        if (operation.NotSearched.Count > 0 && notRemoved.Count > 0)
            Error(new SecretsPSException(ErrorIds.ColumnDiscoveryIncomplete, ErrorKind.OperationStopped,
                Localized.Format(CommandMessages.ColumnDiscoveryIncomplete, string.Join(", ", notRemoved), operation.NotSearched.Count,
                    string.Join(", ", operation.NotSearched.Take(5)) + (operation.NotSearched.Count > 5 ? ", …" : "")),
                target: keyFile), keyFile);
    }

    /// <summary>A column found by the search; with its database when the targets named several.</summary>
    private static string Shown(DiscoveredColumn d) => d.Database is null ? d.Target : d.Database + ": " + d.Target;
}
