using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using SecretsPS.Core.Config;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;
using SecretsPS.Core.Discovery;

namespace SecretsPS.Core.Audit;

public sealed record CleanupTarget(string Table, string Column)
{
    /// <summary>The database it is in; null: the request's (Dialect and ConnectionString).</summary>
    public TargetDatabase? Database { get; init; }
}

public sealed record KeyCleanupRequest
{
    public required string KeyFile { get; init; }
    public int Keep { get; init; } = 3;
    public IReadOnlyList<CleanupTarget> Targets { get; init; } = Array.Empty<CleanupTarget>();
    /// <summary>With Force: remove candidates without counting their rows (only when no target can be named).</summary>
    public bool SkipUsageCheck { get; init; }
    public bool Force { get; init; }
    public int SampleSize { get; init; } = 200;
    public ISqlDialect? Dialect { get; init; }
    public string? ConnectionString { get; init; }
    public DatabaseSignIn SignIn { get; init; } = DatabaseSignIn.None;
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
    /// <summary>-WhatIf: nothing is written, the journal included.</summary>
    public bool WhatIf { get; init; }
    /// <summary>Do not search the database for columns beyond the named targets that hold a candidate (journaled).</summary>
    public bool SkipDiscovery { get; init; }
    /// <summary>The search beyond the named targets reads at most this many values per column…</summary>
    public int DiscoverySampleRows { get; init; } = 1000;
    /// <summary>…and stops after this long; a column it did not reach keeps every candidate.</summary>
    public TimeSpan DiscoveryTimeLimit { get; init; } = TimeSpan.FromMinutes(2);

    // A record prints every property: the password and the connection string (which can hold one) are left out, so that
    // a caller who logs the request leaks neither.
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append($"KeyFile = {KeyFile}, Keep = {Keep}, Targets = {string.Join("; ", Targets)}, SkipUsageCheck = {SkipUsageCheck}, ");
        builder.Append($"Force = {Force}, SampleSize = {SampleSize}, Dialect = {Dialect?.Provider}, SignIn = {SignIn}, WhatIf = {WhatIf}, ");
        builder.Append($"SkipDiscovery = {SkipDiscovery}, DiscoverySampleRows = {DiscoverySampleRows}, DiscoveryTimeLimit = {DiscoveryTimeLimit}");
        return true;
    }
}

/// <summary>
/// flask secrets cleanup-keys, done safely: removes only versions older than the newest N, never the active
/// one, never one a named target still uses; backs up, writes, then proves the new file (validation and a
/// sample decryption of every target) and restores the backup byte for byte if anything fails. Every step is
/// an audit line; the whole operation is appended to the journal.
/// </summary>
public sealed class KeyCleanup
{
    public const string AuditTag = "[CLEANUP-AUDIT]";
    public const string SummaryTag = "[CLEANUP-SUMMARY]";

    private readonly KeyCleanupRequest _request;
    private readonly Action<LogLevel, string> _log;
    private readonly List<CleanupStep> _steps = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public KeyCleanup(KeyCleanupRequest request, Action<LogLevel, string> log)
    {
        _request = request;
        _log = log;
        OperationId = NewOperationId(DateTime.UtcNow);
    }

    public string OperationId { get; }

    /// <summary>Runs after the new key file is written and before it is checked (tests inject failures here).</summary>
    internal Action<string>? AfterWrite { get; set; }

    public static string NewOperationId(DateTime now) =>
        "cleanup_" + now.ToString("yyyyMMdd_HHmmss", CultureInfo.InvariantCulture) + "_" +
        Convert.ToHexString(RandomNumberGenerator.GetBytes(2)).ToLowerInvariant();

    /// <param name="confirm">Asked once with the versions to remove (ShouldProcess); false changes nothing.</param>
    public KeyCleanupOperation Run(Func<IReadOnlyList<string>, bool> confirm)
    {
        if (_request.Keep < 1)
            throw new SecretsPSException(ErrorIds.KeepOutOfRange, ErrorKind.InvalidArgument, Messages.CleanupKeepOutOfRange);
        var path = Path.GetFullPath(_request.KeyFile);
        var started = DateTimeOffset.UtcNow;
        Audit("Start", "OK", $"Operation started - ID: {OperationId} - key file: {path}, keep: {_request.Keep}");

        // Refused before anything is chosen or changed: the journal never follows a link of its own.
        if (!_request.WhatIf) KeyFileStore.RefuseLink(CleanupJournal.PathFor(path), path);
        using var config = KeyConfiguration.Load(path, _request.Environment);
        var ring = config.Ring;
        // "Older than the newest N" in the one age order every reader uses (VersionOrder, FORMATS.md §1): the file order,
        // never ENCRYPTION_CREATED__. Where the creation times say otherwise, the audit says so before anything is chosen.
        foreach (var d in VersionOrder.Disagreements(ring.Versions))
            Audit("Order", "WARNING", $"ENCRYPTION_CREATED__{d.Later} ({KeyVersion.FormatTime(d.LaterCreated)}) is earlier than " +
                $"ENCRYPTION_CREATED__{d.Earlier} ({KeyVersion.FormatTime(d.EarlierCreated)}), but {d.Later} comes after {d.Earlier} in the key file: " +
                $"the file order is used ({d.Earlier} is the older)");
        var (kept, candidates) = Choose(ring, KeyFileStore.ReadDocument(path));
        Audit("Candidates", "OK", candidates.Count == 0
            ? "No candidate: every version is active or among the newest kept"
            : $"Candidates (older than the newest {_request.Keep}, not active): {string.Join(", ", candidates)}");

        var usage = new List<CleanupTargetUsage>();
        var removable = new List<string>(candidates);
        if (candidates.Count > 0)
        {
            if (_request.Targets.Count == 0)
            {
                if (!(_request.SkipUsageCheck && _request.Force))
                {
                    foreach (var c in candidates)
                        kept.Add(new KeptVersion(c, "no target named, so its use by the data is unknown (name -Table/-Column, or confirm with -SkipUsageCheck -Force)"));
                    removable.Clear();
                    Audit("UsageCheck", "WARNING", "No target named: nothing is removed without knowing the data");
                }
                else
                {
                    Audit("UsageCheck", "WARNING", "Usage check skipped (-SkipUsageCheck -Force): the data was not consulted");
                }
            }
            else if (_request.SkipUsageCheck)
            {
                Audit("UsageCheck", "WARNING", "Usage check skipped (-SkipUsageCheck); the sample decryption after the write still runs");
            }
            else
            {
                foreach (var database in Databases())
                {
                    try
                    {
                        using var connection = OpenDatabase(database.Key);
                        foreach (var t in database)
                        {
                            var status = ColumnStatusReader.Read(database.Key.Dialect, connection, t.Table, t.Column, ring);
                            usage.Add(new CleanupTargetUsage(status.Table, status.Column, status.RowsByVersion) { Database = DatabaseName(database.Key) });
                            var target = Where(database.Key, status.Target);
                            Audit("UsageCheck", "OK", $"{target}: " + (status.RowsByVersion.Count == 0 ? "no encrypted rows"
                                : string.Join(", ", status.RowsByVersion.Select(kv => $"{kv.Key}={kv.Value}"))));
                            foreach (var c in removable.ToList())
                            {
                                var rows = status.RowsUsing(c);
                                if (rows == 0) continue;
                                removable.Remove(c);
                                kept.Add(new KeptVersion(c, $"still used by {rows} row(s) of {target}: run Start-Reencryption -Table {status.Table} -Column {status.Column} first"));
                                Audit("UsageCheck", "WARNING", $"Version {c} kept: {rows} row(s) of {target} still use it");
                            }
                        }
                    }
                    catch (Exception e) when (ManyDatabases && e is SecretsPSException or DbException)
                    {
                        Unread(database.Key, e, "UsageCheck");
                    }
                }
                KeepAllIfUnread(removable, kept);
            }
        }

        if (removable.Count > 0 && _request.Targets.Count > 0)
        {
            if (_request.SkipDiscovery)
            {
                _discoverySkipped = true;
                Audit("Discovery", "WARNING", "Search for other columns skipped (-SkipDiscovery): only the named targets were checked");
            }
            else Discover(ring, removable, kept);
        }

        if (removable.Count == 0)
            return Finish(path, started, CleanupOutcome.NothingToRemove, candidates, removable, kept, null, usage, "Nothing to remove.");

        if (!confirm(removable))
        {
            Audit("Confirm", "SKIPPED", $"Not confirmed (-WhatIf or declined): would remove {string.Join(", ", removable)}");
            return Finish(path, started, CleanupOutcome.NotConfirmed, candidates, Array.Empty<string>(), kept, null, usage,
                $"Would remove {string.Join(", ", removable)}; nothing changed.", journal: false);
        }

        // The change is chosen again from the file as read under its lock (another process may have rotated, activated or
        // removed since the checks above): only versions that are still candidates AND were checked and confirmed go.
        var applied = new List<string>();
        string? backup = null;
        var verifying = false;
        try
        {
            KeyFileStore.Edit(path, state =>
            {
                using var locked = KeyConfiguration.FromDocument(path, state.Document, _request.Environment);
                var (_, nowCandidates) = Choose(locked.Ring, state.Document);
                foreach (var v in removable)
                {
                    if (nowCandidates.Contains(v) && state.Document.Contains(KeyFileNames.Key(v))) applied.Add(v);
                    else
                    {
                        kept.Add(new KeptVersion(v, "the key file changed since the check: no longer a candidate"));
                        Audit("Lock", "WARNING", $"Version {v} kept: the key file changed since the check and it is no longer a candidate");
                    }
                }
                if (applied.Count == 0) return null;
                foreach (var v in applied)
                    foreach (var name in KeyFileNames.AllFor(v)) state.Document.Remove(name);
                return KeyFileStore.Encode(state.Document.ToText());
            }, written =>
            {
                // Under the lock, after the write: any failure from here on puts the old bytes back (Edit does that, before
                // anything else: the audit goes to a log sink that can fail too).
                verifying = true;
                backup = written.BackupPath;
                Audit("Backup", "OK", $"Backup created: {backup}");
                Audit("Write", "OK", $"Key file written without {string.Join(", ", applied)}");
                // The reason of a failed check goes into the audit trail and the journal: English, whatever the UI culture.
                using var english = InvariantMessages.Scope();
                AfterWrite?.Invoke(written.Target);
                using var before = KeyConfiguration.FromDocument(path, KeyFileStore.ParseBytes(written.Before!, path), _request.Environment);
                Verify(path, before.Ring, applied);
            });
        }
        catch (Exception e) when (verifying && e is not KeyFileException { ErrorId: ErrorIds.KeyFileRollbackFailed })
        {
            var reason = e is SecretsPSException s ? $"{s.ErrorId}: {s.Message}" : $"{e.GetType().Name}";
            Audit("Verify", "ERROR", $"The new key file failed its checks: {reason}");
            Audit("Rollback", "OK", $"Rollback: the key file was restored from {backup}, byte for byte");
            return Finish(path, started, CleanupOutcome.RolledBack, candidates, Array.Empty<string>(), kept, backup, usage,
                $"Rolled back: {reason}");
        }

        if (applied.Count == 0)
            return Finish(path, started, CleanupOutcome.NothingToRemove, candidates, applied, kept, null, usage, "Nothing to remove.");
        return Finish(path, started, CleanupOutcome.Succeeded, candidates, applied, kept, backup, usage,
            $"Removed {string.Join(", ", applied)}.");
    }

    /// <summary>
    /// Which versions are kept and which are candidates: the newest N, the active one (the ring's and the file's own: the
    /// environment may override it here, but not for every reader of the file) and environment-only ones are kept.
    /// </summary>
    private (List<KeptVersion> Kept, List<string> Candidates) Choose(KeyRing ring, KeyFileDocument document)
    {
        var fileActive = document.Get(KeyFileNames.Active);
        var kept = new List<KeptVersion>();
        var candidates = new List<string>();
        foreach (var (v, index) in ring.Versions.Reverse().Select((v, i) => (v, i)))
        {
            if (ReferenceEquals(v, ring.Active) || v.Name == fileActive) kept.Add(new KeptVersion(v.Name, "the active version"));
            else if (index < _request.Keep) kept.Add(new KeptVersion(v.Name, $"among the newest {_request.Keep}"));
            else if (v.Source == KeySource.Environment) kept.Add(new KeptVersion(v.Name, "defined in the environment, not in the key file"));
            else candidates.Add(v.Name);
        }
        return (kept, candidates);
    }

    /// <summary>The new file must load and pass every check, and must still decrypt what the old one did in every target.</summary>
    private void Verify(string path, KeyRing oldRing, IReadOnlyList<string> removed)
    {
        var failed = ConfigValidator.Check(path, _request.Environment).Where(c => c.StatusKind == CheckStatus.Failed).ToList();
        if (failed.Count > 0)
            throw new SecretsPSException(failed[0].ErrorId ?? ErrorIds.ValidationFailed, ErrorKind.InvalidData, $"validation failed: {failed[0].Check} {failed[0].Message}");
        Audit("Validate", "OK", "The new key file passed validation");

        using var config = KeyConfiguration.Load(path, _request.Environment);
        if (removed.Any(v => config.Ring.TryGet(v, out _)))
            throw new SecretsPSException(ErrorIds.RemovalNotApplied, ErrorKind.InvalidData, "a removed version is still defined");
        if (_request.Targets.Count == 0) return;

        foreach (var database in Databases())
        {
            using var connection = OpenDatabase(database.Key);
            foreach (var t in database)
            {
                var table = Identifier.ParseTable(t.Table);
                using var command = connection.CreateCommand();
                command.CommandText = database.Key.Dialect.SelectSample(table, t.Column, _request.SampleSize);
                using var reader = command.ExecuteReader();
                int read = 0, decrypted = 0;
                var target = Where(database.Key, $"{table}.{t.Column}");
                while (reader.Read())
                {
                    var value = reader.GetString(0);
                    read++;
                    if (!CanDecrypt(oldRing, value)) continue; // never readable: not this operation's concern
                    if (!CanDecrypt(config.Ring, value))
                        throw new SecretsPSException(ErrorIds.SampleDecryptFailed, ErrorKind.InvalidData,
                            $"a value of {target} no longer decrypts with the new key file");
                    decrypted++;
                }
                Audit("SampleDecrypt", "OK", $"{target}: {decrypted} of {read} sampled value(s) decrypt with the new key file");
            }
        }
    }

    private static bool CanDecrypt(KeyRing ring, string value)
    {
        try
        {
            var bytes = ring.Unprotect(value);
            CryptographicOperations.ZeroMemory(bytes);
            return true;
        }
        catch (SecretsPSException)
        {
            return false;
        }
    }

    private bool _discoverySkipped;
    private readonly List<DiscoveredColumn> _discovered = new();
    private readonly List<string> _notSearched = new();

    /// <summary>
    /// An operator who names targets by hand can forget one: every other text column is searched (sampled, bounded in
    /// time) and a candidate that an unnamed column holds is kept, naming that column. A column the search could not read
    /// keeps every candidate: what was not looked at cannot be shown unused.
    /// </summary>
    private void Discover(KeyRing ring, List<string> removable, List<KeptVersion> kept)
    {
        var reasons = new List<UnsearchedReason>();
        foreach (var database in Databases())
        {
            var dialect = database.Key.Dialect;
            EncryptedColumnSearchResult result;
            try
            {
                using var connection = OpenDatabase(database.Key);
                result = EncryptedColumnFinder.Find(dialect, connection, ring, new EncryptedColumnSearch
                {
                    SampleRows = _request.DiscoverySampleRows,
                    TimeLimit = _request.DiscoveryTimeLimit,
                });
            }
            catch (Exception e) when (ManyDatabases && e is SecretsPSException or DbException)
            {
                Unread(database.Key, e, "Discovery");
                continue;
            }
            var targets = database.Select(t => (Table: Identifier.ParseTable(t.Table), t.Column)).ToList();
            Audit("Discovery", "OK", $"{Where(database.Key, "Searched")} {result.ColumnsSearched} text column(s) for stored values (at most {_request.DiscoverySampleRows} value(s) each) " +
                $"in {result.Elapsed.TotalSeconds:0.0} s: {result.Found.Count} hold stored values (a version held only by rows outside the samples " +
                "is not seen: Find-EncryptedColumn piped into this command counts every row)");
            foreach (var found in result.Found)
            {
                bool named = targets.Any(t => Covers(dialect, t.Table, t.Column, found.Catalog));
                var where = Where(database.Key, found.Target);
                _discovered.Add(new DiscoveredColumn(found.Table, found.Column, found.RowsByVersion, named, found.Sampled) { Database = DatabaseName(database.Key) });
                Audit("Discovery", named ? "OK" : "WARNING", $"{where} ({(named ? "named" : "NOT named")}): {found.Versions} in a sample of {found.RowsRead} value(s)");
                if (named) continue;
                foreach (var c in removable.ToList())
                {
                    var rows = found.RowsUsing(c);
                    if (rows == 0) continue;
                    removable.Remove(c);
                    kept.Add(new KeptVersion(c, $"found in {rows} sampled value(s) of {where}, a column not named: name it too " +
                        $"(-Table {found.Table} -Column {found.Column}) or pipe Find-EncryptedColumn into Remove-UnusedEncryptionKey"));
                    Audit("Discovery", "WARNING", $"Version {c} kept: {rows} sampled value(s) of {where}, which was not named, use it");
                }
            }
            _notSearched.AddRange(result.NotSearched.Select(n => Where(database.Key, n.Target)));
            reasons.AddRange(result.NotSearched.Select(n => n.Reason));
        }
        KeepAllIfUnread(removable, kept);
        if (_notSearched.Count == 0) return;
        var why = string.Join(", ", reasons.Distinct());
        Audit("Discovery", "WARNING", $"Not searched ({why}): {string.Join(", ", _notSearched.Take(10))}{(_notSearched.Count > 10 ? $" and {_notSearched.Count - 10} more" : "")}");
        foreach (var c in removable)
        {
            kept.Add(new KeptVersion(c, $"{_notSearched.Count} column(s) could not be searched ({why}), so its use there is unknown: " +
                "name the columns that hold stored values, or add -SkipDiscovery"));
            Audit("Discovery", "WARNING", $"Version {c} kept: the search for other columns did not finish");
        }
        removable.Clear();
    }

    /// <summary>A target covers a column when the names are the database's same (a target without a schema: the default one).</summary>
    private static bool Covers(ISqlDialect dialect, TableName table, string column, CatalogColumn found) =>
        dialect.SameIdentifier(column, found.Column) && dialect.SameIdentifier(table.Name, found.Table.Name) &&
        (table.Schema is null ? found.InDefaultSchema : found.Table.Schema is not null && dialect.SameIdentifier(table.Schema, found.Table.Schema));

    private static DbConnection OpenDatabase(TargetDatabase database, DatabaseSignIn signIn) =>
        // The cleanup only reads the database (counts and samples): the server refuses any write, as for -WhatIf.
        DatabaseConnection.Open(database.Dialect, database.ConnectionString, signIn, readOnly: true);

    private DbConnection OpenDatabase(TargetDatabase database) => OpenDatabase(database, _request.SignIn);

    /// <summary>The request's database, for targets that do not name their own.</summary>
    private TargetDatabase RequestDatabase()
    {
        if (_request.Dialect is null || string.IsNullOrWhiteSpace(_request.ConnectionString))
            throw new SecretsPSException(ErrorIds.ConnectionStringMissing, ErrorKind.InvalidArgument,
                Messages.CleanupConnectionStringMissing);
        return new TargetDatabase(_request.Dialect, _request.ConnectionString);
    }

    /// <summary>The targets by the database they are in, in the order first named.</summary>
    private List<IGrouping<TargetDatabase, CleanupTarget>> Databases() =>
        _databases ??= _request.Targets.GroupBy(t => t.Database ?? RequestDatabase()).ToList();

    private List<IGrouping<TargetDatabase, CleanupTarget>>? _databases;

    /// <summary>
    /// Targets in several databases (a fleet sharing one key file): the audit names each target's database, and a database
    /// that cannot be read keeps every candidate instead of ending the operation, so that the others are still counted.
    /// </summary>
    private bool ManyDatabases => Databases().Count > 1;

    private string Where(TargetDatabase database, string target) => ManyDatabases ? $"{database.Description}: {target}" : target;

    private string? DatabaseName(TargetDatabase database) => ManyDatabases ? database.Description : null;

    private readonly List<UnreadDatabase> _unread = new();

    private void Unread(TargetDatabase database, Exception e, string step)
    {
        if (_unread.Any(u => u.Database == database.Description)) return;
        var errorId = e is SecretsPSException s ? s.ErrorId : ErrorIds.DatabaseError;
        _unread.Add(new UnreadDatabase(database.Description, errorId));
        Audit(step, "ERROR", $"{database.Description} could not be read ({errorId}): its use of the candidates is unknown");
    }

    /// <summary>What was not looked at cannot be shown unused: a database that could not be read keeps every candidate.</summary>
    private void KeepAllIfUnread(List<string> removable, List<KeptVersion> kept)
    {
        if (_unread.Count == 0) return;
        var names = string.Join(", ", _unread.Select(u => u.Database));
        foreach (var c in removable)
        {
            kept.Add(new KeptVersion(c, $"{_unread.Count} database(s) could not be read ({names}), so its use there is unknown"));
            Audit("UsageCheck", "WARNING", $"Version {c} kept: {_unread.Count} database(s) could not be read");
        }
        removable.Clear();
    }

    private void Audit(string step, string status, string message)
    {
        _steps.Add(new CleanupStep(DateTimeOffset.UtcNow, step, status, message));
        var level = status switch { "ERROR" => LogLevel.Error, "WARNING" => LogLevel.Warning, _ => LogLevel.Info };
        _log(level, $"{AuditTag} {message}");
    }

    private KeyCleanupOperation Finish(string path, DateTimeOffset started, CleanupOutcome outcome, IReadOnlyList<string> candidates,
        IReadOnlyList<string> removed, IReadOnlyList<KeptVersion> kept, string? backup, IReadOnlyList<CleanupTargetUsage> usage, string message,
        bool journal = true)
    {
        var operation = new KeyCleanupOperation(OperationId, path, started, _clock.ElapsedMilliseconds, _request.Keep, outcome,
            candidates, removed, kept, backup, usage, _steps.ToList(), message, System.Environment.UserName, System.Environment.MachineName)
        {
            DiscoverySkipped = _discoverySkipped,
            Discovered = _discovered.ToList(),
            NotSearched = _notSearched.ToList(),
            UnreadDatabases = _unread.ToList(),
        };
        _log(outcome == CleanupOutcome.RolledBack ? LogLevel.Error : LogLevel.Info,
            $"{SummaryTag} ID: {OperationId} | outcome: {outcome} | removed: {(removed.Count == 0 ? "none" : string.Join(", ", removed))} | " +
            $"kept: {(kept.Count == 0 ? "none" : string.Join(", ", kept.Select(k => k.Version)))} | backup: {backup ?? "none"} | duration: {operation.DurationMs} ms");
        if (journal && !_request.WhatIf)
        {
            try
            {
                CleanupJournal.Append(path, operation);
            }
            catch (SecretsPSException e) when (e.ErrorId is ErrorIds.AuditJournalUnwritable or ErrorIds.KeyFileLinkRefused && removed.Count > 0)
            {
                // Still an error (the audit record is missing), but it must say the key file already changed: a run that only
                // looks failed invites a second one.
                throw new SecretsPSException(e.ErrorId, e.Kind,
                    Localized.Format(Messages.AuditJournalUnwritableAfterRemoval, string.Join(", ", removed), backup, e.Message), e, e.Target);
            }
        }
        return operation;
    }
}
