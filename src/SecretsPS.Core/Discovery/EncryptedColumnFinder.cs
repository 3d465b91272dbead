using System.Data.Common;
using System.Diagnostics;
using SecretsPS.Core.Crypto;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Discovery;

/// <summary>
/// Finds every text column that holds stored values, so that no key is removed while a forgotten column still needs it.
/// The catalog is read first and only text columns are searched (never the job tables); each column is then counted in
/// the database (CountByPrefix) or, with a sample, read up to a bound. A value counts under its version when it has a
/// stored value's shape (a version name, a colon, a token's first characters) and its version is in the key ring, or,
/// for a version the ring does not know, when at least one of its values parses whole as a stored value: "a:b",
/// "v1:notatoken", JSON or a URL never count. Read-only: each column is read in its own read-only transaction.
/// </summary>
public static class EncryptedColumnFinder
{
    /// <summary>How many values of a version the ring does not know are read to prove it is a real stored value.</summary>
    public const int UnknownVersionProof = 20;

    public static EncryptedColumnSearchResult Find(ISqlDialect dialect, DbConnection connection, KeyRing ring, EncryptedColumnSearch search,
        CancellationToken cancellation = default)
    {
        var clock = Stopwatch.StartNew();
        if (search.SampleRows is < 1)
            throw new ArgumentOutOfRangeException(nameof(search), "SampleRows must be positive.");
        string? schema = search.Schema is null ? null : Identifier.Validate(search.Schema, "table");
        string? table = null;
        if (search.Table is not null)
        {
            var parsed = Identifier.ParseTable(search.Table);
            table = parsed.Name;
            if (parsed.Schema is not null)
            {
                if (schema is not null && !dialect.SameIdentifier(schema, parsed.Schema))
                    throw new SecretsPSException(ErrorIds.SearchFilterConflict, ErrorKind.InvalidArgument,
                        Localized.Format(Messages.SearchFilterConflict, search.Table, schema));
                schema = parsed.Schema;
            }
        }

        using var timeUp = search.TimeLimit is { } limit ? new CancellationTokenSource(limit < TimeSpan.Zero ? TimeSpan.Zero : limit) : new CancellationTokenSource();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation, timeUp.Token);

        var catalog = dialect.TextColumns(connection, schema, table);
        if (table is not null && catalog.Count == 0) RequireTable(dialect, connection, new TableName(schema, table));
        var columns = catalog.Where(c => !search.SkipTables.Any(s => dialect.SameIdentifier(s, c.Table.Name))).ToList();
        var found = new List<EncryptedColumn>();
        var notSearched = new List<UnsearchedColumn>();
        int searched = 0;
        for (int i = 0; i < columns.Count; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var column = columns[i];
            if (timeUp.IsCancellationRequested)
            {
                notSearched.AddRange(columns.Skip(i).Select(c => new UnsearchedColumn(c, UnsearchedReason.TimeLimit, null)));
                break;
            }
            search.Progress?.Invoke(new EncryptedColumnSearchProgress(i, columns.Count, $"{EncryptedColumn.TableText(column)}.{column.Column}"));
            try
            {
                var result = Search(dialect, connection, ring, column, search.SampleRows, Remaining(search.TimeLimit, clock), stop.Token);
                searched++;
                if (result is not null) found.Add(result);
            }
            catch (Exception) when (cancellation.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellation);
            }
            catch (Exception e) when (timeUp.IsCancellationRequested && e is DbException or OperationCanceledException or InvalidOperationException)
            {
                notSearched.AddRange(columns.Skip(i).Select(c => new UnsearchedColumn(c, UnsearchedReason.TimeLimit, null)));
                break;
            }
            catch (SecretsPSException e) when (e.ErrorId == ErrorIds.IdentifierInvalid)
            {
                // A name the dialect cannot quote (a control character, too long): it is reported, never guessed at.
                notSearched.Add(new UnsearchedColumn(column, UnsearchedReason.NameUnusable, e.ErrorId));
            }
            catch (DbException e) when (!dialect.IsConnectionFailure(e))
            {
                // No right to read the table, a broken view of it: the others are still searched, and this one is named.
                notSearched.Add(new UnsearchedColumn(column, UnsearchedReason.ReadFailed, DatabaseErrorText.Describe(e)));
            }
        }
        search.Progress?.Invoke(new EncryptedColumnSearchProgress(columns.Count, columns.Count, ""));
        return new EncryptedColumnSearchResult(found, notSearched, searched, clock.Elapsed);
    }

    /// <summary>A -Table with a typo must not read as "no encrypted column here": a table that does not exist is TargetNotFound.</summary>
    private static void RequireTable(ISqlDialect dialect, DbConnection connection, TableName table)
    {
        try
        {
            using var probe = connection.CreateCommand();
            probe.CommandText = $"SELECT 1 FROM {dialect.QuoteTable(table)} WHERE 1 = 0";
            probe.ExecuteNonQuery();
        }
        catch (DbException e) when (!dialect.IsConnectionFailure(e))
        {
            throw new SecretsPSException(ErrorIds.TargetNotFound, ErrorKind.ObjectNotFound,
                Localized.Format(Messages.TargetNotFound, table, ""), e, table.ToString());
        }
    }

    private static int? Remaining(TimeSpan? limit, Stopwatch clock) =>
        limit is { } l ? Math.Max(1, (int)Math.Ceiling((l - clock.Elapsed).TotalSeconds)) : null;

    private static EncryptedColumn? Search(ISqlDialect dialect, DbConnection connection, KeyRing ring, CatalogColumn column, int? sampleRows,
        int? timeoutSeconds, CancellationToken stop)
    {
        using var transaction = dialect.BeginRead(connection);
        var known = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var unknown = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var proven = new HashSet<string>(StringComparer.Ordinal);
        long rowsRead = 0;
        using (var command = Command(connection, transaction, timeoutSeconds))
        {
            using var cancel = stop.Register(command.Cancel);
            if (sampleRows is { } n)
            {
                command.CommandText = dialect.SelectSample(column.Table, column.Column, n);
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    stop.ThrowIfCancellationRequested();
                    rowsRead++;
                    if (reader.GetValue(0) is not string value || VersionOf(value) is not { } version) continue;
                    if (ring.TryGet(version, out _)) Add(known, version, 1);
                    else
                    {
                        Add(unknown, version, 1);
                        if (StoredValue.TryParseAsApplication(value, out _)) proven.Add(version);
                    }
                }
            }
            else
            {
                command.CommandText = dialect.CountByPrefix(column.Table, column.Column);
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    long count = Convert.ToInt64(reader.GetValue(1));
                    rowsRead += count;
                    if (reader.IsDBNull(0)) continue;
                    var prefix = reader.GetString(0);
                    if (!VersionName.IsValid(prefix)) continue;
                    Add(ring.TryGet(prefix, out _) ? known : unknown, prefix, count);
                }
            }
        }
        if (sampleRows is null)
            foreach (var version in unknown.Keys)
                if (HasStoredValue(dialect, connection, transaction, column, version, timeoutSeconds, stop)) proven.Add(version);
        transaction.Commit();

        foreach (var (version, count) in unknown)
            if (proven.Contains(version)) known[version] = count;
        if (known.Count == 0) return null;
        return new EncryptedColumn(column, known, proven.Order(StringComparer.Ordinal).ToList(), rowsRead, sampleRows is not null);
    }

    /// <summary>True when a value under the version parses whole as a stored value (a version the ring does not know is proven, not assumed).</summary>
    private static bool HasStoredValue(ISqlDialect dialect, DbConnection connection, DbTransaction transaction, CatalogColumn column, string version,
        int? timeoutSeconds, CancellationToken stop)
    {
        using var command = Command(connection, transaction, timeoutSeconds);
        using var cancel = stop.Register(command.Cancel);
        command.CommandText = dialect.SelectWithPrefix(column.Table, column.Column, UnknownVersionProof);
        SqlDialect.AddParameter(command, "@prefix", version);
        using var reader = command.ExecuteReader();
        while (reader.Read())
            if (reader.GetValue(0) is string value && StoredValue.TryParseAsApplication(value, out var stored) && stored.Version == version) return true;
        return false;
    }

    /// <summary>
    /// The version a value is counted under, by the rule CountByPrefix applies in SQL: leading application whitespace
    /// skipped, a valid version name before the first colon, a token's first characters after it; null otherwise.
    /// </summary>
    public static string? VersionOf(string value)
    {
        var text = value.AsSpan();
        int start = 0;
        while (start < text.Length && ApplicationWhitespace.IsWhiteSpace(text[start])) start++;
        text = text[start..];
        int colon = text.IndexOf(':');
        if (colon < 1 || !StoredValue.HasTokenPayload(text)) return null;
        var version = text[..colon].ToString();
        return VersionName.IsValid(version) ? version : null;
    }

    private static DbCommand Command(DbConnection connection, DbTransaction transaction, int? timeoutSeconds)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        // Without a time limit a full count may take as long as the column needs (Ctrl+C cancels it).
        command.CommandTimeout = timeoutSeconds ?? 0;
        return command;
    }

    private static void Add(IDictionary<string, long> counts, string version, long n) => counts[version] = counts.TryGetValue(version, out var c) ? c + n : n;
}
