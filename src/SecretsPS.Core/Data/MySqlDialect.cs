using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using MySqlConnector;
using SecretsPS.Core.Reencryption;

namespace SecretsPS.Core.Data;

/// <summary>
/// MySQL and MariaDB through MySqlConnector. Their default collations are case- and accent-insensitive and PAD SPACE, so
/// every comparison that must be exact (the guard, the prefix count) compares bytes; key comparisons use the key
/// column's own collation, under which the key was proven unique. UPDATE has no RETURNING here: the rows written are those
/// that hold their new value afterwards, read back in the same transaction (see <see cref="UpdateGuarded"/>).
/// </summary>
public sealed partial class MySqlDialect : SqlDialect
{
    /// <summary>MySQL and MariaDB refuse longer names (64 characters) and characters outside the Basic Multilingual Plane.</summary>
    public const int MaxIdentifierLength = 64;

    /// <summary>
    /// Rows per UPDATE statement: the rows go into the statement as JSON (or, on older servers, hexadecimal literals),
    /// which must stay under max_allowed_packet (16 MB by default on MariaDB, 64 MB on MySQL 8).
    /// </summary>
    public const int RowsPerStatement = 500;

    /// <summary>And characters of values per statement, so that rows of long values stay well under max_allowed_packet too.</summary>
    public const int CharactersPerStatement = 1_000_000;

    /// <summary>
    /// Every session of a run starts from the same mode: strict (a value too long is an error, never a silent cut),
    /// trailing CHAR padding removed as the application reads it, backticks for names and single quotes for text.
    /// </summary>
    public const string SessionMode = "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'";

    /// <summary>-WhatIf: every transaction of the session, autocommitted statements too, is refused any write by the server.</summary>
    public const string SessionReadOnly = "SET SESSION TRANSACTION READ ONLY";

    /// <summary>Said explicitly: with Connection Reset=false, a pooled session of a -WhatIf could otherwise come back read-only.</summary>
    public const string SessionReadWrite = "SET SESSION TRANSACTION READ WRITE";

    public override DatabaseProvider Provider => DatabaseProvider.MySql;

    public override DbConnection CreateConnection(string connectionString, DatabaseSignIn signIn, bool readOnly)
    {
        var builder = Builder(connectionString);
        if (signIn.UserName is not null) builder.UserID = signIn.UserName;
        // An access token (Azure AD, AWS IAM) is sent as the password, as those services expect.
        if (signIn.PasswordOrToken is not null) builder.Password = signIn.PasswordOrToken;
        // The count of an UPDATE must be the rows it matched, which UpdateGuarded checks against the rows it finds written.
        builder.UseAffectedRows = false;
        if (string.IsNullOrEmpty(builder.ApplicationName)) builder.ApplicationName = "SecretsPS";
        var connection = new MySqlConnection(builder.ConnectionString);
        // Session settings are made on every open: a pooled connection is reset to the server's defaults when it returns
        // to the pool (MySqlConnector's ConnectionReset), and opened again from there.
        connection.StateChange += (_, e) =>
        {
            if (e.CurrentState != ConnectionState.Open || e.OriginalState == ConnectionState.Open) return;
            using var command = connection.CreateCommand();
            command.CommandText = SessionMode + "; " + (readOnly ? SessionReadOnly : SessionReadWrite);
            command.ExecuteNonQuery();
        };
        return connection;
    }

    private static MySqlConnectionStringBuilder Builder(string connectionString)
    {
        try { return new MySqlConnectionStringBuilder(connectionString); }
        catch (ArgumentException)
        {
            // The inner message can quote the string, password included: never pass it on.
            throw new SecretsPSException(ErrorIds.ConnectionStringInvalid, ErrorKind.InvalidArgument, Messages.MySqlConnectionStringInvalid);
        }
    }

    public override string Describe(string connectionString)
    {
        try
        {
            var b = new MySqlConnectionStringBuilder(connectionString);
            return $"MySQL {b.Server}:{b.Port}/{b.Database}";
        }
        catch (ArgumentException) { return "MySQL (connection string not valid)"; }
    }

    /// <summary>Backticks, with an embedded backtick doubled.</summary>
    public override string Quote(string identifier) => "`" + CheckLength(Identifier.Validate(identifier, "column")).Replace("`", "``") + "`";

    /// <summary>
    /// A name the server would refuse is refused here, with a message that says why: too long, a character outside the
    /// Basic Multilingual Plane, or a trailing space (MySQL refuses names that end with one).
    /// </summary>
    protected override string CheckLength(string identifier)
    {
        bool beyondBmp = identifier.Any(char.IsSurrogate);
        if (identifier.Length <= MaxIdentifierLength && !beyondBmp && !identifier.EndsWith(' ')) return identifier;
        throw new SecretsPSException(ErrorIds.IdentifierInvalid, ErrorKind.InvalidArgument,
            Localized.Format(Messages.MySqlIdentifierInvalid, MessageText.Shorten(identifier, 70), MaxIdentifierLength));
    }

    /// <summary>Column names are case- and accent-insensitive in MySQL: refusing a same-named pair is the safe mistake.</summary>
    public override bool SameIdentifier(string a, string b) =>
        string.Compare(a, b, CultureInfo.InvariantCulture, CompareOptions.IgnoreCase | CompareOptions.IgnoreNonSpace) == 0;

    private static bool IsSigned(ColumnType type) => !type.Declared.Contains("unsigned", StringComparison.OrdinalIgnoreCase);

    private static bool IsInteger(ColumnType type) => type.Base is "tinyint" or "smallint" or "mediumint" or "int" or "bigint";

    private static bool IsBinary(ColumnType type) => type.Base is "binary" or "varbinary";

    /// <summary>Text keys, compared in their own collation; a TEXT key (MariaDB indexes it UNIQUE by a hash) pages exactly too, only without an index to order by.</summary>
    private static bool IsCharacter(ColumnType type) => type.Base is "char" or "varchar" or "tinytext" or "text" or "mediumtext" or "longtext";

    /// <summary>Binary keys travel as hexadecimal text: their bytes are not text in any character set.</summary>
    protected override string KeyAsText(string quotedKey, ColumnType type) =>
        IsBinary(type) ? $"HEX({quotedKey})" : IsCharacter(type) ? quotedKey : $"CAST({quotedKey} AS CHAR)";

    /// <summary>
    /// A cursor text compared in the key's own type: integers as integers (a text compared with a BIGINT would be compared
    /// as a double, with 53 bits), decimals at their scale, date-times at their precision, text in the key column's own
    /// character set and collation (explicit, so it wins over the parameter's and the column's index is used).
    /// </summary>
    protected override string KeyParameter(string parameter, ColumnType type)
    {
        if (IsInteger(type)) return $"CAST({parameter} AS {(IsSigned(type) ? "SIGNED" : "UNSIGNED")})";
        if (IsBinary(type)) return $"UNHEX({parameter})";
        if (IsCharacter(type))
        {
            var (charset, collation) = CharsetOf(type);
            return $"CONVERT({parameter} USING {charset}) COLLATE {collation}";
        }
        return $"CAST({parameter} AS {CastType(type)})";
    }

    private static string CastType(ColumnType type)
    {
        var m = Modifier().Match(type.Declared);
        return type.Base switch
        {
            "decimal" => m.Success ? $"DECIMAL({m.Groups[1].Value}, {(m.Groups[2].Success ? m.Groups[2].Value : "0")})" : "DECIMAL(10, 0)",
            "datetime" => m.Success ? $"DATETIME({m.Groups[1].Value})" : "DATETIME",
            "date" => "DATE",
            _ => throw new InvalidOperationException($"No cast for key type {type}."),
        };
    }

    [GeneratedRegex(@"\((\d+)(?:\s*,\s*(\d+))?\)")]
    private static partial Regex Modifier();

    [GeneratedRegex(@" CHARACTER SET ([a-z0-9_]+) COLLATE ([a-z0-9_]+)$")]
    private static partial Regex CharsetClause();

    private static (string Charset, string Collation) CharsetOf(ColumnType type)
    {
        var m = CharsetClause().Match(type.Declared);
        if (!m.Success) throw new InvalidOperationException($"The key type {type} names no character set.");
        return (m.Groups[1].Value, m.Groups[2].Value);
    }

    /// <summary>Byte for byte, whatever the column's collation (case, accents, trailing spaces) and character set.</summary>
    protected override string ExactlyEquals(string quotedColumn, string parameter) =>
        $"CAST(CONVERT({quotedColumn} USING utf8mb4) AS BINARY) = CAST({parameter} AS BINARY)";

    protected override string Position(string quotedColumn) => $"LOCATE(':', {quotedColumn})";

    /// <summary>As bytes: grouped under the column's collation, 'v1' and 'V1' would be counted as one version.</summary>
    protected override string Prefix(string quotedColumn) => $"CAST(SUBSTRING_INDEX({quotedColumn}, ':', 1) AS BINARY)";

    protected override string TokenStart(string quotedColumn) => $"CAST(SUBSTRING({quotedColumn}, LOCATE(':', {quotedColumn}) + 1, 8) AS BINARY)";

    /// <summary>
    /// ORD of a UTF-32 character is its code point (0 for an empty value). Only the first character is converted: the
    /// whole value's conversion was a quarter of the status count's time.
    /// </summary>
    protected override string FirstCodePoint(string quotedColumn) => $"ORD(CONVERT(LEFT({quotedColumn}, 1) USING utf32))";

    /// <summary>MySQL's TRIM removes one string, not a set of characters: a regular expression does, on the UTF-8 text.</summary>
    protected override string TrimLeading(string quotedColumn) =>
        $"REGEXP_REPLACE(CONVERT({quotedColumn} USING utf8mb4), CONCAT('^[', CONVERT(X'{WhitespaceUtf8}' USING utf8mb4), ']+'), '')";

    private static readonly string WhitespaceUtf8 = Convert.ToHexString(Encoding.UTF8.GetBytes(Crypto.ApplicationWhitespace.Characters));

    /// <summary>
    /// The standard count, on the column's text in UTF-8 (a latin1 column too), with the prefix grouped as bytes and
    /// turned back into text only once grouped.
    /// </summary>
    public override string CountByPrefix(TableName table, string column)
    {
        var text = $"CONVERT({Quote(column)} USING utf8mb4)";
        string Classify(string value) =>
            $"CASE WHEN {Position(value)} > 1 AND {TokenStart(value)} = '{StoredTokenStart}' THEN {Prefix(value)} ELSE CAST('' AS BINARY) END";
        var group = $"CASE WHEN {Quote(column)} IS NULL THEN NULL WHEN {FirstCodePoint(text)} IN ({string.Join(", ", ApplicationWhitespace)}) " +
                    $"THEN {Classify(TrimLeading(text))} ELSE {Classify(text)} END";
        return $"SELECT CONVERT(grouped.prefix USING utf8mb4), COUNT(*) FROM (SELECT {group} AS prefix FROM {QuoteTable(table)}) AS grouped GROUP BY grouped.prefix";
    }

    /// <summary>
    /// A text as a hexadecimal literal of its UTF-8 bytes: nothing in it can end the literal, whatever the session's
    /// sql_mode (NO_BACKSLASH_ESCAPES) or character set, and the client has no parameters to look up and substitute (with
    /// three per row, that substitution cost more than the update itself).
    /// </summary>
    public static string Text(string value) => AppendText(new StringBuilder(value.Length * 2 + 32), value).ToString();

    private static string Bytes(string value) => AppendBytes(new StringBuilder(value.Length * 2 + 3), value).ToString();

    private static StringBuilder AppendText(StringBuilder sql, string value) => AppendBytes(sql.Append("CONVERT("), value).Append(" USING utf8mb4)");

    /// <summary>X'…' of the UTF-8 bytes, written straight into the statement (a stored value is ASCII: one byte a character).</summary>
    private static StringBuilder AppendBytes(StringBuilder sql, string value)
    {
        sql.Append("X'");
        if (System.Text.Ascii.IsValid(value))
        {
            foreach (var ch in value) sql.Append(HexDigits[ch >> 4]).Append(HexDigits[ch & 0xF]);
        }
        else
        {
            sql.Append(Convert.ToHexString(Encoding.UTF8.GetBytes(value)));
        }
        return sql.Append('\'');
    }

    private const string HexDigits = "0123456789ABCDEF";

    /// <summary>
    /// The guarded UPDATE of one chunk of rows, joined on the key (the key's primary or unique index) against the rows as a
    /// derived table (k: the key text, o: the value read, as bytes, n: the value to write): UNION ALL of one-row SELECTs,
    /// which MySQL and MariaDB both accept (their VALUES lists differ).
    /// </summary>
    public string UpdateStatement(ColumnTarget target, IReadOnlyList<RowUpdate> rows, int start, int count)
    {
        var c = Quote(target.Column);
        var sql = new StringBuilder(count * 400);
        sql.Append($"UPDATE {QuoteTable(target.Table)} AS target INNER JOIN (");
        for (int i = 0; i < count; i++)
        {
            var row = rows[start + i];
            AppendText(sql.Append(i == 0 ? "SELECT " : " UNION ALL SELECT "), CursorText(row.Key)).Append(i == 0 ? " AS k, " : ", ");
            AppendBytes(sql, row.OldValue).Append(i == 0 ? " AS o, " : ", ");
            AppendText(sql, row.NewValue).Append(i == 0 ? " AS n" : "");
        }
        sql.Append($") AS v ON target.{Quote(target.KeyColumn)} = {KeyParameter("v.k", target.KeyType)} ");
        sql.Append($"SET target.{c} = v.n WHERE CAST(CONVERT(target.{c} USING utf8mb4) AS BINARY) = v.o");
        return sql.ToString();
    }

    /// <summary>
    /// The keys of the chunk's rows that hold one of the chunk's new values. A new value is a fresh Fernet token (a random
    /// IV): no other writer can have written it, and the UPDATE's row locks keep it in place until commit; so these are
    /// exactly the rows the UPDATE wrote.
    /// </summary>
    public string WrittenStatement(ColumnTarget target, IReadOnlyList<RowUpdate> rows, int start, int count)
    {
        var k = Quote(target.KeyColumn);
        var sql = new StringBuilder(count * 250);
        sql.Append($"SELECT {KeyAsText(k, target.KeyType)} FROM {QuoteTable(target.Table)} WHERE {k} IN (");
        for (int i = 0; i < count; i++)
            sql.Append(i == 0 ? "" : ", ").Append(KeyParameter(Text(CursorText(rows[start + i].Key)), target.KeyType));
        sql.Append($") AND CAST(CONVERT({Quote(target.Column)} USING utf8mb4) AS BINARY) IN (");
        for (int i = 0; i < count; i++) AppendBytes(sql.Append(i == 0 ? "" : ", "), rows[start + i].NewValue);
        return sql.Append(')').ToString();
    }

    /// <summary>
    /// UPDATE has no RETURNING here, and its count of matched rows is not the rows it changed (a trigger that keeps the old
    /// value, or an unchanged value, still counts). So after each chunk's UPDATE, in the same transaction, the rows of the
    /// chunk that now hold their new value are read back: those, and only those, were written. Each must be a key that was
    /// sent, found once, and no more than the UPDATE matched; anything else stops the run before the batch's commit.
    /// Where the server has JSON_TABLE (MySQL 8.0.4, MariaDB 10.6), see <see cref="UpdateJsonChunk"/>; older servers get
    /// the rows as literals (<see cref="UpdateStatement"/>, <see cref="WrittenStatement"/>).
    /// </summary>
    public override IReadOnlyCollection<object> UpdateGuarded(DbConnection connection, DbTransaction transaction, ColumnTarget target, IReadOnlyList<RowUpdate> rows)
    {
        var written = new List<object>(rows.Count);
        bool json = !LiteralRowsOnly && ReadsJsonRows(connection.ServerVersion);
        int start = 0;
        while (start < rows.Count)
        {
            int count = 0, characters = 0;
            while (start + count < rows.Count && count < RowsPerStatement && (count == 0 || characters < CharactersPerStatement))
            {
                var row = rows[start + count];
                characters += row.OldValue.Length + row.NewValue.Length;
                count++;
            }
            var sent = new Dictionary<string, RowUpdate>(count, StringComparer.Ordinal);
            for (int i = 0; i < count; i++) sent[CursorText(rows[start + i].Key)] = rows[start + i];
            if (json) UpdateJsonChunk(connection, transaction, target, rows, start, count, sent, written);
            else UpdateLiteralChunk(connection, transaction, target, rows, start, count, sent, written);
            start += count;
        }
        return written;
    }

    /// <summary>
    /// One round trip: the guarded UPDATE (<see cref="JsonUpdateStatement"/>, the rows as one JSON parameter of a small
    /// fixed statement) and the read-back of the chunk's key range (<see cref="RangeStatement"/>: a range of the key's
    /// index, far cheaper for the server than looking each key up again). The rows of the range that hold the new value
    /// sent for their key were written. The keys of a chunk are in page order, which is the key's order, so the range
    /// holds every row of the chunk; should it ever find fewer than the UPDATE matched (a trigger that kept the old value
    /// does that too), the chunk's own rows are looked up by key (<see cref="JsonWrittenStatement"/>), which is exact
    /// whatever the order.
    /// </summary>
    private void UpdateJsonChunk(DbConnection connection, DbTransaction transaction, ColumnTarget target, IReadOnlyList<RowUpdate> rows, int start, int count,
        Dictionary<string, RowUpdate> sent, List<object> written)
    {
        var chunk = MySqlJsonRows.Write(this, rows, start, count);
        int matched, found = 0;
        var mine = new List<object>(count);
        using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = JsonUpdateStatement(target, KeyIndex(connection, transaction, target)) + "; " + RangeStatement(target);
            AddParameter(command, "@rows", chunk);
            AddParameter(command, "@first", CursorText(rows[start].Key));
            AddParameter(command, "@last", CursorText(rows[start + count - 1].Key));
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                var key = CursorText(ReadKey(reader, 0));
                if (sent.TryGetValue(key, out var row) && string.Equals(reader.GetString(1), row.NewValue, StringComparison.Ordinal))
                {
                    mine.Add(row.Key);
                    found++;
                }
            }
            matched = reader.RecordsAffected;
        }
        if (found < matched)
        {
            mine.Clear();
            found = 0;
            using var select = connection.CreateCommand();
            select.Transaction = transaction;
            select.CommandText = JsonWrittenStatement(target, KeyIndex(connection, transaction, target));
            AddParameter(select, "@rows", chunk);
            using var reader = select.ExecuteReader();
            while (reader.Read())
            {
                if (!sent.Remove(CursorText(ReadKey(reader, 0)), out var row))
                    throw Miscount(target, matched, "a row holding a new value has a key that was not sent, or was sent once and found twice");
                mine.Add(row.Key);
                found++;
            }
        }
        if (found > matched) throw Miscount(target, matched, $"{found} hold their new value");
        written.AddRange(mine);
    }

    /// <summary>Servers without JSON_TABLE: the rows as literals in the UPDATE, and the rows written read back by key and new value.</summary>
    private void UpdateLiteralChunk(DbConnection connection, DbTransaction transaction, ColumnTarget target, IReadOnlyList<RowUpdate> rows, int start, int count,
        Dictionary<string, RowUpdate> sent, List<object> written)
    {
        int matched = Execute(connection, transaction, UpdateStatement(target, rows, start, count));
        int found = 0;
        using (var select = connection.CreateCommand())
        {
            select.Transaction = transaction;
            select.CommandText = WrittenStatement(target, rows, start, count);
            using var reader = select.ExecuteReader();
            while (reader.Read())
            {
                if (!sent.Remove(CursorText(ReadKey(reader, 0)), out var row))
                    throw Miscount(target, matched, "a row holding a new value has a key that was not sent, or was sent once and found twice");
                written.Add(row.Key);
                found++;
            }
        }
        if (found > matched) throw Miscount(target, matched, $"{found} hold their new value");
    }

    /// <summary>
    /// Every non-NULL row from the key @first to the key @last (cursor texts, compared in the key's own type and collation, as
    /// the page was read), with its value as text: the rows a chunk of a page can have written.
    /// </summary>
    public string RangeStatement(ColumnTarget target)
    {
        var k = Quote(target.KeyColumn);
        var c = Quote(target.Column);
        return $"SELECT {KeyAsText(k, target.KeyType)}, {c} FROM {QuoteTable(target.Table)} WHERE {c} IS NOT NULL " +
               $"AND {k} >= {KeyParameter("@first", target.KeyType)} AND {k} <= {KeyParameter("@last", target.KeyType)}";
    }

    /// <summary>The rows as literals whatever the server: the path of servers without JSON_TABLE, which tests take on a newer one.</summary>
    internal bool LiteralRowsOnly { get; init; }

    /// <summary>
    /// True for servers with JSON_TABLE: MySQL 8.0.4 and later, MariaDB 10.6 and later (MariaDB reports itself as
    /// "10.11.9-MariaDB", or behind older proxies as "5.5.5-10.11.9-MariaDB").
    /// </summary>
    public static bool ReadsJsonRows(string? serverVersion)
    {
        if (string.IsNullOrEmpty(serverVersion)) return false;
        var text = serverVersion.StartsWith("5.5.5-", StringComparison.Ordinal) ? serverVersion[6..] : serverVersion;
        var m = ServerVersionNumber().Match(text);
        if (!m.Success) return false;
        var version = new Version(int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture),
            int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture));
        return serverVersion.Contains("MariaDB", StringComparison.OrdinalIgnoreCase) ? version >= new Version(10, 6, 0) : version >= new Version(8, 0, 4);
    }

    [GeneratedRegex(@"^(\d+)\.(\d+)\.(\d+)")]
    private static partial Regex ServerVersionNumber();

    /// <summary>
    /// The chunk's rows as a table: @rows is the UTF-8 bytes of a JSON array of [key text, value read, new value], read as
    /// utf8mb4 text with a binary collation (every value exactly as it was sent, whatever its length).
    /// </summary>
    private const string JsonRowsTable =
        "JSON_TABLE(CONVERT(@rows USING utf8mb4), '$[*]' COLUMNS (k LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[0]', " +
        "o LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[1]', n LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[2]'))";

    /// <summary>
    /// The guarded UPDATE of one chunk, joined on the key (the key's primary or unique index, looked up once per row of the
    /// JSON) against the rows of <see cref="JsonRowsTable"/>. One statement text for every chunk of a target: the server
    /// parses a few hundred bytes, not a statement the size of the chunk. STRAIGHT_JOIN keeps the JSON first: in the other
    /// order the server reads the JSON again for every row of the table (seen after a restart, on a table of 10,000 rows).
    /// </summary>
    public string JsonUpdateStatement(ColumnTarget target, string? keyIndex = null)
    {
        var c = Quote(target.Column);
        return $"UPDATE {JsonRowsTable} AS v STRAIGHT_JOIN {QuoteTable(target.Table)} AS target{ForceIndex(keyIndex)} ON target.{Quote(target.KeyColumn)} = {KeyParameter("v.k", target.KeyType)} " +
               $"SET target.{c} = v.n WHERE CAST(CONVERT(target.{c} USING utf8mb4) AS BINARY) = CAST(v.o AS BINARY)";
    }

    /// <summary>The keys of the chunk's rows that hold their own new value (a fresh Fernet token that no other writer can have written).</summary>
    public string JsonWrittenStatement(ColumnTarget target, string? keyIndex = null)
    {
        var k = Quote(target.KeyColumn);
        return $"SELECT {KeyAsText("target." + k, target.KeyType)} FROM {JsonRowsTable} AS v STRAIGHT_JOIN {QuoteTable(target.Table)} AS target{ForceIndex(keyIndex)} " +
               $"ON target.{k} = {KeyParameter("v.k", target.KeyType)} WHERE CAST(CONVERT(target.{Quote(target.Column)} USING utf8mb4) AS BINARY) = CAST(v.n AS BINARY)";
    }

    private string ForceIndex(string? keyIndex) => keyIndex is null ? "" : $" FORCE INDEX ({Quote(keyIndex)})";

    /// <summary>
    /// The index whose first column is the target's key, named in the JSON update and its read-back (FORCE INDEX). With
    /// statistics that say the table is (nearly) empty, as after a restart before InnoDB has sampled a freshly filled
    /// table, the optimizer otherwise reads the whole table for every row of the JSON (seen: 80 s instead of 4 for 10,000
    /// rows at 10 a page, MySql.Scenario's restart). Null when no index starts with the key column: no plan can seek then.
    /// Looked up once per target (a run's ColumnTarget), the primary key first.
    /// </summary>
    private string? KeyIndex(DbConnection connection, DbTransaction transaction, ColumnTarget target) =>
        _keyIndexes.GetValue(target, t => new System.Runtime.CompilerServices.StrongBox<string?>(LookUpKeyIndex(connection, transaction, t))).Value;

    /// <summary>Per target, weakly held: thread-safe, and gone with the run's ColumnTarget.</summary>
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<ColumnTarget, System.Runtime.CompilerServices.StrongBox<string?>> _keyIndexes = new();

    internal static string? LookUpKeyIndex(DbConnection connection, DbTransaction? transaction, ColumnTarget target)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = COALESCE(@schema, DATABASE()) " +
                              "AND TABLE_NAME = @table AND COLUMN_NAME = @column AND SEQ_IN_INDEX = 1 " +
                              "ORDER BY INDEX_NAME = 'PRIMARY' DESC, NON_UNIQUE, INDEX_NAME LIMIT 1";
        AddParameter(command, "@schema", target.Table.Schema);
        AddParameter(command, "@table", target.Table.Name);
        AddParameter(command, "@column", target.KeyColumn);
        return command.ExecuteScalar() as string;
    }

    private static int Execute(DbConnection connection, DbTransaction transaction, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command.ExecuteNonQuery();
    }

    /// <summary>The accounting could not be made exact: the run stops before the batch's commit (nothing of it is kept).</summary>
    private static InvalidOperationException Miscount(ColumnTarget target, int matched, string what) =>
        new($"The guarded update of {target.Name} matched {matched} row(s), but {what}; nothing of this batch is committed.");

    public const string ColumnQuery =
        "SELECT DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH FROM information_schema.COLUMNS " +
        "WHERE TABLE_SCHEMA = COALESCE(@s, DATABASE()) AND TABLE_NAME = @t AND COLUMN_NAME = @c " +
        // The catalog compares names case-insensitively: `Users` and `users` are two tables on Linux.
        "AND CAST(TABLE_SCHEMA AS BINARY) = CAST(COALESCE(@s, DATABASE()) AS BINARY) AND CAST(TABLE_NAME AS BINARY) = CAST(@t AS BINARY)";

    /// <summary>MariaDB's JSON is LONGTEXT with a json_valid CHECK named after the column (MySQL's JSON is its own type).</summary>
    public const string MariaDbJsonQuery =
        "SELECT COUNT(*) FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = COALESCE(@s, DATABASE()) AND TABLE_NAME = @t " +
        "AND CAST(TABLE_NAME AS BINARY) = CAST(@t AS BINARY) AND CONSTRAINT_NAME = @c AND CHECK_CLAUSE LIKE '%json_valid(%'";

    public override ColumnType DescribeColumn(DbConnection connection, TableName table, string column)
    {
        string dataType, columnType;
        string? charset, collation;
        using (var command = Catalog(connection, ColumnQuery, table, column))
        using (var reader = command.ExecuteReader())
        {
            if (!reader.Read()) return new ColumnType("", "");
            dataType = reader.GetString(0).ToLowerInvariant();
            columnType = reader.GetString(1);
            charset = reader.IsDBNull(2) ? null : reader.GetString(2);
            collation = reader.IsDBNull(3) ? null : reader.GetString(3);
        }
        if (dataType == "longtext" && IsMariaDbJson(connection, table, column)) return new ColumnType("json", "json");
        var declared = charset is null || collation is null ? columnType : $"{columnType} CHARACTER SET {charset} COLLATE {collation}";
        return new ColumnType(declared, dataType);
    }

    private static bool IsMariaDbJson(DbConnection connection, TableName table, string column)
    {
        try
        {
            using var command = Catalog(connection, MariaDbJsonQuery, table, column);
            return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture) > 0;
        }
        catch (MySqlException)
        {
            return false; // MySQL's CHECK_CONSTRAINTS has no TABLE_NAME: there, JSON is its own type.
        }
    }

    private static DbCommand Catalog(DbConnection connection, string sql, TableName table, string? column)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        AddParameter(command, "@s", table.Schema);
        AddParameter(command, "@t", table.Name);
        if (column is not null) AddParameter(command, "@c", column);
        return command;
    }

    /// <summary>
    /// Text in a character set; never binary strings, BLOB, JSON, ENUM or numbers. The data type alone decides (a binary
    /// string's is binary, varbinary or blob), so a type read from the catalog without its character set is judged the same.
    /// </summary>
    public override bool HoldsText(ColumnType type) => type.Base is "char" or "varchar" or "tinytext" or "text" or "mediumtext" or "longtext";

    /// <summary>
    /// Types whose text casts back exactly and orders as the column does. Not FLOAT or DOUBLE (text rounds), TIMESTAMP
    /// (its text follows the session's time zone), TIME, YEAR, ENUM or SET (ordered by their index, not their text), BIT,
    /// BLOB or JSON.
    /// </summary>
    public override bool PagesExactly(ColumnType type) =>
        IsInteger(type) || IsBinary(type) || type.Base is "decimal" or "datetime" or "date"
        || (IsCharacter(type) && CharsetClause().IsMatch(type.Declared));

    public const string PrimaryKeyQuery =
        "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = COALESCE(@s, DATABASE()) AND TABLE_NAME = @t " +
        "AND CAST(TABLE_SCHEMA AS BINARY) = CAST(COALESCE(@s, DATABASE()) AS BINARY) AND CAST(TABLE_NAME AS BINARY) = CAST(@t AS BINARY) " +
        "AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION";

    public override IReadOnlyList<string> PrimaryKeyColumns(DbConnection connection, TableName table)
    {
        using var command = Catalog(connection, PrimaryKeyQuery, table, null);
        var result = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) result.Add(reader.GetString(0));
        return result;
    }

    /// <summary>
    /// Characters for CHAR and VARCHAR; for the TEXT types the smaller of characters and bytes, because their limit is in
    /// bytes (a stored value is ASCII: one byte a character). LONGTEXT's 4 GB counts as unbounded.
    /// </summary>
    public override int? ColumnMaxLength(DbConnection connection, TableName table, string column)
    {
        using var command = Catalog(connection, ColumnQuery, table, column);
        using var reader = command.ExecuteReader();
        if (!reader.Read() || reader.IsDBNull(4)) return null;
        var characters = Convert.ToInt64(reader.GetValue(4), CultureInfo.InvariantCulture);
        var bytes = reader.IsDBNull(5) ? characters : Convert.ToInt64(reader.GetValue(5), CultureInfo.InvariantCulture);
        var max = reader.GetString(0).ToLowerInvariant() is "char" or "varchar" ? characters : Math.Min(characters, bytes);
        return max is > 0 and <= int.MaxValue ? (int)max : null;
    }

    /// <summary>The table whose rows <see cref="LockTarget"/> locks, beside the job table.</summary>
    public static TableName LockTable(TableName jobs) => jobs with { Name = jobs.Name + "_lock" };

    /// <summary>
    /// The lock table of the job tables this dialect last created or checked. LockTarget is told only the target's name,
    /// and every claim builds its JobStore (which calls <see cref="CreateJobTables"/>) on this dialect before it locks.
    /// </summary>
    private TableName _lockTable = LockTable(new TableName(null, JobStore.DefaultTable));

    private const string TableOptions = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

    public override IEnumerable<string> CreateJobTables(TableName jobs, TableName errors)
    {
        var lockTable = LockTable(jobs);
        var statements = new[]
        {
            $"CREATE TABLE IF NOT EXISTS {QuoteTable(jobs)} (" +
            "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, table_name VARCHAR(255) NOT NULL, column_name VARCHAR(255) NOT NULL, key_column VARCHAR(255) NOT NULL, " +
            "target_version VARCHAR(255) NOT NULL, status VARCHAR(16) NOT NULL, total_rows BIGINT NOT NULL DEFAULT 0, processed BIGINT NOT NULL DEFAULT 0, " +
            "skipped BIGINT NOT NULL DEFAULT 0, errors BIGINT NOT NULL DEFAULT 0, last_key TEXT NULL, batch_size INT NOT NULL, " +
            "commit_every INT NOT NULL, created_at DATETIME(6) NOT NULL, started_at DATETIME(6) NULL, updated_at DATETIME(6) NULL, finished_at DATETIME(6) NULL, " +
            "owner VARCHAR(255) NULL, message MEDIUMTEXT NULL, INDEX `target` (table_name, column_name))" + TableOptions,
            // The index is declared with the table (MySQL has no CREATE INDEX IF NOT EXISTS, and a runner with data rights only
            // could not add it later).
            $"CREATE TABLE IF NOT EXISTS {QuoteTable(errors)} (job_id BIGINT NOT NULL, row_key TEXT NULL, reason TEXT NOT NULL, created_at DATETIME(6) NOT NULL, " +
            "INDEX `job` (job_id))" + TableOptions,
            $"CREATE TABLE IF NOT EXISTS {QuoteTable(lockTable)} (target VARCHAR(255) NOT NULL PRIMARY KEY, locked_at DATETIME(6) NOT NULL)" + TableOptions,
        };
        _lockTable = lockTable; // only once every name passed its checks
        return statements;
    }

    /// <summary>MySQL has no RETURNING on INSERT (MariaDB has, since 10.5): the id comes from the same session.</summary>
    public override string InsertReturningId(TableName table, IReadOnlyList<string> columns) =>
        $"INSERT INTO {QuoteTable(table)} ({string.Join(", ", columns.Select(Quote))}) VALUES ({string.Join(", ", columns.Select(c => "@" + c))}); SELECT LAST_INSERT_ID()";

    /// <summary>
    /// A row lock in the lock table, held until the transaction ends: released by commit, rollback or the server when the
    /// client dies, and tied to the transaction, not the session, so it stays correct behind a pooler. GET_LOCK would be
    /// held by the session, past the transaction, and by whichever client a pooler hands the session to next.
    /// </summary>
    public override void LockTarget(DbConnection connection, DbTransaction transaction, string target)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = LockStatement(_lockTable);
        AddParameter(command, "@target", target);
        AddParameter(command, "@now", DateTime.UtcNow);
        command.ExecuteNonQuery();
    }

    /// <summary>Inserts the target's row, or takes an exclusive lock on it when it is there: either way, a second claim waits.</summary>
    public string LockStatement(TableName lockTable) =>
        $"INSERT INTO {QuoteTable(lockTable)} (target, locked_at) VALUES (@target, @now) ON DUPLICATE KEY UPDATE locked_at = VALUES(locked_at)";

    /// <summary>READ ONLY as well as the session's setting: a write in it is refused by the server.</summary>
    public override DbTransaction BeginRead(DbConnection connection) =>
        ((MySqlConnection)connection).BeginTransaction(IsolationLevel.ReadCommitted, isReadOnly: true);

    /// <summary>The server's uptime has whole seconds: the start is put a little earlier, so that a job beating after it is never taken for stale.</summary>
    public override DateTime? ServerStartTime(DbConnection connection, DbTransaction? transaction)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT UTC_TIMESTAMP(6), VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'";
        try
        {
            using var reader = command.ExecuteReader();
            if (!reader.Read()) return null;
            var now = DateTime.SpecifyKind(reader.GetDateTime(0), DateTimeKind.Utc);
            var uptime = long.Parse(Convert.ToString(reader.GetValue(1), CultureInfo.InvariantCulture)!, CultureInfo.InvariantCulture);
            return now.AddSeconds(-uptime - 2);
        }
        catch (MySqlException e) when (!IsConnectionFailure(e))
        {
            return null; // MySQL 8 keeps GLOBAL_STATUS in performance_schema only: there the heartbeat rule alone applies
        }
    }

    /// <summary>Server and client error numbers that mean the server cannot be reached, is going away or cut the session.</summary>
    private static readonly System.Collections.Frozen.FrozenSet<int> ConnectionErrors =
        System.Collections.Frozen.FrozenSet.ToFrozenSet(new[] { 1040, 1042, 1053, 1077, 1152, 1927, 2002, 2003, 2006, 2013, 2055, 4031 });

    public override bool IsConnectionFailure(Exception exception) => exception switch
    {
        MySqlException m when ConnectionErrors.Contains(m.Number) || m.ErrorCode == MySqlErrorCode.UnableToConnectToHost => true,
        IOException or System.Net.Sockets.SocketException or TimeoutException => true,
        _ => exception.InnerException is not null && IsConnectionFailure(exception.InnerException),
    };

    /// <summary>
    /// A lost connection, and a batch InnoDB rolled back to break a deadlock (1213) or after waiting out a lock (1205) with
    /// the application's own writes: the batch was undone, so it runs again from the last committed row.
    /// </summary>
    public override bool IsTransient(Exception exception) =>
        IsConnectionFailure(exception) || exception is MySqlException { Number: 1205 or 1213 };

    public override ConnectionFailureKind ClassifyConnectionFailure(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is MySqlException m)
            {
                if (m.Number is 1045 or 1044 or 1698) return ConnectionFailureKind.Authentication;
                if (m.Number == 1049) return ConnectionFailureKind.DatabaseMissing;
            }
        }
        return base.ClassifyConnectionFailure(exception);
    }

    public override string CreateChunkTable(TableName chunks) =>
        $"CREATE TABLE IF NOT EXISTS {QuoteTable(chunks)} (job_id BIGINT NOT NULL, chunk INT NOT NULL, low_key TEXT NULL, high_key TEXT NULL, last_key TEXT NULL, " +
        "status VARCHAR(16) NOT NULL, processed BIGINT NOT NULL DEFAULT 0, skipped BIGINT NOT NULL DEFAULT 0, errors BIGINT NOT NULL DEFAULT 0, owner VARCHAR(255) NULL, " +
        "updated_at DATETIME(6) NULL, PRIMARY KEY (job_id, chunk))" + TableOptions;

    /// <summary>MySQL and MariaDB have no TABLESAMPLE: a filter on RAND() still reads every key once, but sorts only the sample.</summary>
    protected override string? RandomFilter(double fraction) => $"RAND() < {Number(fraction)}";

    /// <summary>
    /// SKIP LOCKED came with MySQL 8.0.1 and MariaDB 10.6; an older server would refuse the claim's statement. There the
    /// claim waits for a chunk row another transaction holds (a batch's bookkeeping, a moment), which the target's lock
    /// already makes rare.
    /// </summary>
    public override bool SkipsLockedRows(DbConnection connection) => SkipsLockedRows(connection.ServerVersion);

    /// <summary>From the server's version text ("8.0.36", "10.11.6-MariaDB-log", MariaDB's "5.5.5-10.11.6-MariaDB").</summary>
    public static bool SkipsLockedRows(string? serverVersion)
    {
        if (string.IsNullOrEmpty(serverVersion)) return false;
        bool mariaDb = serverVersion.Contains("MariaDB", StringComparison.OrdinalIgnoreCase);
        var text = mariaDb && serverVersion.StartsWith("5.5.5-", StringComparison.Ordinal) ? serverVersion[6..] : serverVersion;
        var m = VersionNumber().Match(text);
        if (!m.Success || !Version.TryParse(m.Value, out var version)) return false;
        return mariaDb ? version >= new Version(10, 6) : version >= new Version(8, 0, 1);
    }

    [GeneratedRegex(@"^\d+\.\d+(\.\d+)?")]
    private static partial Regex VersionNumber();
}
