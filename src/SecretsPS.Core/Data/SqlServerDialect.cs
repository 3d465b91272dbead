using System.Data.Common;
using System.Text;
using Microsoft.Data.SqlClient;

namespace SecretsPS.Core.Data;

/// <summary>SQL Server through Microsoft.Data.SqlClient: brackets, TOP, OUTPUT, a join against a VALUES list.</summary>
public sealed class SqlServerDialect : SqlDialect
{
    /// <summary>SQL Server accepts at most 2,100 parameters per statement; three per row.</summary>
    public const int RowsPerStatement = 600;

    public override DatabaseProvider Provider => DatabaseProvider.SqlServer;

    public override DbConnection CreateConnection(string connectionString, DatabaseSignIn signIn, bool readOnly)
    {
        SqlConnectionStringBuilder builder;
        try { builder = new SqlConnectionStringBuilder(connectionString); }
        catch (ArgumentException)
        {
            throw new SecretsPSException(ErrorIds.ConnectionStringInvalid, ErrorKind.InvalidArgument,
                Messages.SqlServerConnectionStringInvalid);
        }
        RequireSupportedSignIn(builder, signIn);
        // A token names its principal itself, and SqlClient refuses a user beside it: a user given with the token (which
        // -Credential allows, for the databases that need one) is not passed on.
        if (signIn.UserName is not null && signIn.AccessToken is null) builder.UserID = signIn.UserName;
        if (signIn.Password is not null) builder.Password = signIn.Password;
        if (readOnly) builder.ApplicationIntent = ApplicationIntent.ReadOnly;
        if (string.IsNullOrEmpty(builder.ApplicationName) || builder.ApplicationName == ".Net SqlClient Data Provider") builder.ApplicationName = "SecretsPS";
        var connection = new SqlConnection(builder.ToString()) { RetryLogicProvider = ConnectionRetry() };
        if (signIn.AccessToken is not null) connection.AccessToken = signIn.AccessToken;
        return connection;
    }

    /// <summary>
    /// Refuses, before any connection, the sign-ins this build of SqlClient cannot make: a Microsoft Entra ID method
    /// (Authentication=Active Directory …) needs an authentication provider that SqlClient 7 keeps in a separate
    /// package (none is registered here), and would otherwise fail only after reaching the server, with SqlClient's own
    /// words. A token given with -AccessToken excludes every other way of signing in, which SqlClient would refuse
    /// with an exception that names no parameter of ours.
    /// </summary>
    private static void RequireSupportedSignIn(SqlConnectionStringBuilder builder, DatabaseSignIn signIn)
    {
        var method = builder.Authentication;
        if (signIn.AccessToken is not null)
        {
            string? conflict = method != SqlAuthenticationMethod.NotSpecified ? "Authentication"
                : builder.UserID.Length > 0 || builder.Password.Length > 0 || signIn.Password is not null ? "User ID/Password"
                : builder.IntegratedSecurity ? "Integrated Security"
                : null;
            if (conflict is not null)
                throw new SecretsPSException(ErrorIds.AccessTokenConflict, ErrorKind.InvalidArgument,
                    Localized.Format(Messages.SqlServerAccessTokenConflict, conflict));
            return;
        }
        if (method is not (SqlAuthenticationMethod.NotSpecified or SqlAuthenticationMethod.SqlPassword) && SqlAuthenticationProvider.GetProvider(method) is null)
            throw new SecretsPSException(ErrorIds.SqlServerAuthenticationUnsupported, ErrorKind.InvalidArgument,
                Localized.Format(Messages.SqlServerAuthenticationNeedsAccessToken, method));
    }

    /// <summary>
    /// The SQL Server and Azure SQL errors that pass by themselves (Microsoft's documented transient errors: failover,
    /// throttling, a busy service, a database being moved, a deadlock victim, a dropped TCP connection). Opening a
    /// connection retries them (<see cref="ConnectionRetryOptions"/>); a run retries them from its last committed row.
    /// Not 18456 (a refused sign-in) nor any error that would only come back on a retry.
    /// </summary>
    public static readonly IReadOnlyList<int> TransientErrorNumbers =
    [
        233, 997, 1204, 1205, 1222, 4060, 4221, 10053, 10054, 10060, 10928, 10929,
        40143, 40197, 40501, 40540, 40613, 42108, 42109, 49918, 49919, 49920,
    ];

    /// <summary>
    /// How SqlClient's own configurable retry logic opens a connection: four tries in all, exponential waits from two
    /// seconds capped at twenty (with SqlClient's jitter), so a failover of Azure SQL (usually under 30 seconds) is
    /// ridden out and a dead server is reported within about a minute, not retried without end.
    /// </summary>
    public static SqlRetryLogicOption ConnectionRetryOptions => new()
    {
        NumberOfTries = 4,
        DeltaTime = TimeSpan.FromSeconds(2),
        MinTimeInterval = TimeSpan.Zero,
        MaxTimeInterval = TimeSpan.FromSeconds(20),
        TransientErrors = TransientErrorNumbers,
    };

    /// <summary>A new provider per connection: a provider keeps the state of the operation it is retrying.</summary>
    public static SqlRetryLogicBaseProvider ConnectionRetry() => SqlConfigurableRetryFactory.CreateExponentialRetryProvider(ConnectionRetryOptions);

    public override string Describe(string connectionString)
    {
        try
        {
            var b = new SqlConnectionStringBuilder(connectionString);
            return $"SQL Server {b.DataSource}/{b.InitialCatalog}";
        }
        catch (ArgumentException) { return "SQL Server (connection string not valid)"; }
    }

    public override string Quote(string identifier) => "[" + Identifier.Validate(identifier, "column").Replace("]", "]]") + "]";

    public override string SelectPage(ColumnTarget target, int limit, bool fromStart)
    {
        var k = Quote(target.KeyColumn);
        var c = Quote(target.Column);
        var after = fromStart ? "" : $" AND {k} > {KeyParameter("@after", target.KeyType)}";
        return $"SELECT TOP ({limit}) {KeyAsText(k, target.KeyType)}, {c} FROM {QuoteTable(target.Table)} WHERE {c} IS NOT NULL{after} ORDER BY {k}";
    }

    /// <summary>
    /// The CONVERT style that makes a type's text exact and independent of the session's language and date format:
    /// ISO 8601 with every fractional digit for date and time types, 17 significant digits for floats (style 3, SQL
    /// Server 2016 and later); exact by default for integers, decimals, uniqueidentifier, time and text.
    /// </summary>
    private static string Style(ColumnType type) => type.Base switch
    {
        "date" or "datetime" or "datetime2" or "smalldatetime" or "datetimeoffset" => ", 126",
        "float" or "real" => ", 3",
        _ => "",
    };

    protected override string KeyAsText(string quotedKey, ColumnType type) => $"CONVERT(nvarchar(4000), {quotedKey}{Style(type)})";

    /// <summary>
    /// A key parameter converted to the key column's type: the conversion is on the parameter's side, so the key column
    /// is compared as it is stored and its index is sought. An 8-bit text key whose code page is not the database's comes
    /// as Unicode (<see cref="SqlServerParameterType.ForKey"/>) and is converted in the column's own collation, so that
    /// no character is lost on the way and the comparison orders as the page's ORDER BY does.
    /// </summary>
    protected override string KeyParameter(string parameter, ColumnType type) =>
        type.Base is "char" or "varchar" && !type.SharesDatabaseCodePage && type.Collation is { } collation
            ? $"CONVERT({type.Declared}, {parameter} COLLATE {collation})"
            : $"CONVERT({type.Declared}, {parameter}{Style(type)})";

    /// <summary>A binary collation: the default ones are case- and accent-insensitive.</summary>
    protected override string ExactlyEquals(string quotedColumn, string parameter) => $"{quotedColumn} = {parameter} COLLATE {BinaryCollation}";

    protected override string FirstCodePoint(string quotedColumn) => $"UNICODE({quotedColumn})";

    /// <summary>
    /// SQL Server before 2022 has no LTRIM with characters: skip to the first character that is not whitespace (the
    /// pattern's brackets as NCHAR(91) and NCHAR(93), so that no bracket stands outside a quoted name).
    /// </summary>
    protected override string TrimLeading(string quotedColumn) =>
        $"SUBSTRING({quotedColumn}, PATINDEX(N'%' + NCHAR(91) + N'^' + {string.Join(" + ", ApplicationWhitespace.Select(c => $"NCHAR({c})"))} + NCHAR(93) + N'%', {quotedColumn}), 2147483647)";

    /// <summary>
    /// The column's type parts, its collation, and whether its code page is the database's (the one the client encodes
    /// 8-bit text parameters in): read once per run, with the target.
    /// </summary>
    public const string ColumnTypeQuery =
        "SELECT DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, COLLATION_NAME, " +
        "CASE WHEN COLLATIONPROPERTY(COLLATION_NAME, 'CodePage') = COLLATIONPROPERTY(CONVERT(nvarchar(128), DATABASEPROPERTYEX(DB_NAME(), 'Collation')), 'CodePage') THEN 1 ELSE 0 END " +
        "FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = @t AND TABLE_SCHEMA = COALESCE(@s, SCHEMA_NAME()) AND COLUMN_NAME = @c";

    public override ColumnType DescribeColumn(DbConnection connection, TableName table, string column)
    {
        using var command = connection.CreateCommand();
        command.CommandText = ColumnTypeQuery;
        AddParameter(command, "@t", table.Name);
        AddParameter(command, "@s", table.Schema);
        AddParameter(command, "@c", column);
        using var reader = command.ExecuteReader();
        if (!reader.Read()) return new ColumnType("", "");
        int? Int(int i) => reader.IsDBNull(i) ? null : Convert.ToInt32(reader.GetValue(i));
        var collation = reader.IsDBNull(5) ? null : reader.GetString(5);
        return Declare(reader.GetString(0), Int(1), Int(2), Int(3), Int(4), collation, sharesDatabaseCodePage: Int(6) != 0);
    }

    /// <summary>The declared type from INFORMATION_SCHEMA's parts (alias types are already resolved to their base type there).</summary>
    public static ColumnType Declare(string dataType, int? maxLength, int? precision, int? scale, int? datetimePrecision,
        string? collation = null, bool sharesDatabaseCodePage = true)
    {
        var name = dataType.ToLowerInvariant();
        var declared = name switch
        {
            "char" or "varchar" or "nchar" or "nvarchar" or "binary" or "varbinary" => $"{name}({(maxLength is null or -1 ? "max" : maxLength.ToString())})",
            "decimal" or "numeric" => $"{name}({precision ?? 18}, {scale ?? 0})",
            "datetime2" or "datetimeoffset" or "time" => $"{name}({datetimePrecision ?? 7})",
            _ => name,
        };
        // A collation name is letters, digits and underscores; anything else is not written into a statement.
        var safeCollation = collation is not null && collation.Length > 0 && collation.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') ? collation : null;
        return new ColumnType(declared, name) { Collation = safeCollation, SharesDatabaseCodePage = sharesDatabaseCodePage || safeCollation is null };
    }

    /// <summary>text and ntext are refused: deprecated, and they cannot be compared with =, which the guard needs.</summary>
    public override bool HoldsText(ColumnType type) => type.Base is "char" or "varchar" or "nchar" or "nvarchar";

    /// <summary>Not money (its text rounds), sql_variant, rowversion, binary or spatial and XML types.</summary>
    public override bool PagesExactly(ColumnType type) =>
        type.Base is "tinyint" or "smallint" or "int" or "bigint" or "bit" or "decimal" or "numeric" or "float" or "real"
            or "char" or "varchar" or "nchar" or "nvarchar" or "uniqueidentifier" or "date" or "time" or "datetime" or "datetime2"
            or "smalldatetime" or "datetimeoffset"
        && !type.Declared.EndsWith("(max)", StringComparison.Ordinal);

    public override string SelectSample(TableName table, string column, int limit) =>
        $"SELECT TOP ({limit}) {Quote(column)} FROM {QuoteTable(table)} WHERE {Quote(column)} IS NOT NULL";

    protected override string Position(string quotedColumn) => $"CHARINDEX(':', {quotedColumn})";

    /// <summary>
    /// Grouped and compared in a binary collation: under the usual case-insensitive one (SQL_Latin1_General_CP1_CI_AS) "V1"
    /// and "v1" would be one group. Only the prefix and the token's start are converted, ASCII in every stored value: the
    /// whole value under a Latin1 collation could lose characters of another code page (the whitespace the trim removes).
    /// </summary>
    protected override string Prefix(string quotedColumn) => $"LEFT({quotedColumn}, CHARINDEX(':', {quotedColumn}) - 1) COLLATE {BinaryCollation}";

    protected override string TokenStart(string quotedColumn) => $"SUBSTRING({quotedColumn}, CHARINDEX(':', {quotedColumn}) + 1, 8) COLLATE {BinaryCollation}";

    private const string BinaryCollation = "Latin1_General_100_BIN2";

    /// <summary>
    /// The statement for one chunk of rows; public so the emitted SQL can be tested without a server. The UPDATE is one
    /// statement, with the guard, so a row is written only if it still holds what was read. Its OUTPUT goes INTO a table
    /// variable: SQL Server refuses an OUTPUT without INTO (error 334) on a table with an enabled trigger, and audit
    /// triggers are common exactly on the tables that hold secrets. A trigger can also undo or replace the write (an
    /// INSTEAD OF trigger's OUTPUT shows rows as if written), so a key counts as written only where the row now holds
    /// the new value, read back in the same transaction; any other row is re-read by the engine and reported.
    /// </summary>
    public string UpdateStatement(ColumnTarget target, int rows)
    {
        var k = Quote(target.KeyColumn);
        var c = Quote(target.Column);
        var values = new StringBuilder();
        for (int i = 0; i < rows; i++)
        {
            if (i > 0) values.Append(", ");
            values.Append($"(@k{i}, @o{i}, @n{i})");
        }
        // Statements follow one another without semicolons, as T-SQL allows (and the job tables' DDL does): no ';' is ever
        // outside a quoted name in what this dialect emits.
        return $"DECLARE {WrittenKeys} TABLE (k nvarchar(4000) NOT NULL, n nvarchar(max) NOT NULL) " +
               $"UPDATE target SET target.{c} = v.n OUTPUT {KeyAsText("inserted." + k, target.KeyType)}, v.n INTO {WrittenKeys} (k, n) FROM {QuoteTable(target.Table)} AS target " +
               $"INNER JOIN (VALUES {values}) AS v(k, o, n) ON target.{k} = {KeyParameter("v.k", target.KeyType)} AND {ExactlyEquals("target." + c, "v.o")} " +
               $"SELECT w.k AS {WrittenKeyColumn} FROM {WrittenKeys} AS w INNER JOIN {QuoteTable(target.Table)} AS stored " +
               $"ON stored.{k} = {KeyParameter("w.k", target.KeyType)} AND {ExactlyEquals("stored." + c, "w.n")}";
    }

    /// <summary>The table variable the guarded update's OUTPUT goes into (no parameter is named so: they are @k, @o and @n with a number).</summary>
    private const string WrittenKeys = "@written";

    /// <summary>The name of the written keys' column in the result, which no trigger's result set is likely to share.</summary>
    private const string WrittenKeyColumn = "secretsps_written_key";

    public override IReadOnlyCollection<object> UpdateGuarded(DbConnection connection, DbTransaction transaction, ColumnTarget target, IReadOnlyList<RowUpdate> rows)
    {
        var written = new List<object>(rows.Count);
        for (int start = 0; start < rows.Count; start += RowsPerStatement)
        {
            using var command = UpdateCommand(connection, target, rows, start, Math.Min(RowsPerStatement, rows.Count - start));
            command.Transaction = transaction;
            using var reader = command.ExecuteReader();
            // A trigger may return rows of its own (SQL Server allows it unless 'disallow results from triggers' is set):
            // the written keys are the result set under this dialect's own column name, whichever comes first.
            do
            {
                if (reader.FieldCount != 1 || reader.GetName(0) != WrittenKeyColumn) continue;
                while (reader.Read()) written.Add(reader.GetString(0));
            }
            while (reader.NextResult());
        }
        return written;
    }

    /// <summary>
    /// One chunk's command; public so its parameters can be tested without a server. Every parameter is typed after
    /// its column (<see cref="SqlServerParameterType"/>), with the same declaration in every batch of the run.
    /// </summary>
    public DbCommand UpdateCommand(DbConnection connection, ColumnTarget target, IReadOnlyList<RowUpdate> rows, int start, int count)
    {
        var command = connection.CreateCommand();
        command.CommandText = UpdateStatement(target, count);
        var key = SqlServerParameterType.ForKey(target.KeyType);
        var old = SqlServerParameterType.ForOldValue(target.ColumnType);
        var value = SqlServerParameterType.ForNewValue(target.ColumnType);
        for (int i = 0; i < count; i++)
        {
            var row = rows[start + i];
            Add(command, "@k" + i, key, row.Key);
            Add(command, "@o" + i, old, row.OldValue);
            Add(command, "@n" + i, value, row.NewValue);
        }
        return command;
    }

    private static DbParameter Add(DbCommand command, string name, SqlServerParameterType type, object value)
    {
        var parameter = (SqlParameter)command.CreateParameter();
        parameter.ParameterName = name;
        type.Apply(parameter, value);
        command.Parameters.Add(parameter);
        return parameter;
    }

    public override IReadOnlyList<string> PrimaryKeyColumns(DbConnection connection, TableName table)
    {
        using var command = connection.CreateCommand();
        command.CommandText = PrimaryKeyQuery;
        AddParameter(command, "@t", table.Name);
        AddParameter(command, "@s", table.Schema);
        var result = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) result.Add(reader.GetString(0));
        return result;
    }

    public const string PrimaryKeyQuery =
        "SELECT kcu.COLUMN_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS tc " +
        "JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE kcu ON kcu.CONSTRAINT_NAME = tc.CONSTRAINT_NAME AND kcu.TABLE_SCHEMA = tc.TABLE_SCHEMA " +
        "WHERE tc.CONSTRAINT_TYPE = 'PRIMARY KEY' AND tc.TABLE_NAME = @t AND tc.TABLE_SCHEMA = COALESCE(@s, SCHEMA_NAME()) ORDER BY kcu.ORDINAL_POSITION";

    public const string ColumnLengthQuery =
        "SELECT CHARACTER_MAXIMUM_LENGTH FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = @t AND TABLE_SCHEMA = COALESCE(@s, SCHEMA_NAME()) AND COLUMN_NAME = @c";

    public override int? ColumnMaxLength(DbConnection connection, TableName table, string column)
    {
        using var command = connection.CreateCommand();
        command.CommandText = ColumnLengthQuery;
        AddParameter(command, "@t", table.Name);
        AddParameter(command, "@s", table.Schema);
        AddParameter(command, "@c", column);
        var value = command.ExecuteScalar();
        return value is null or DBNull || Convert.ToInt32(value) <= 0 ? null : Convert.ToInt32(value);
    }

    public override IEnumerable<string> CreateJobTables(TableName jobs, TableName errors)
    {
        var j = QuoteTable(jobs).Replace("'", "''");
        var e = QuoteTable(errors).Replace("'", "''");
        yield return $"IF OBJECT_ID(N'{j}', N'U') IS NULL CREATE TABLE {QuoteTable(jobs)} (" +
                     "id BIGINT IDENTITY(1,1) PRIMARY KEY, table_name NVARCHAR(400) NOT NULL, column_name NVARCHAR(200) NOT NULL, key_column NVARCHAR(200) NOT NULL, " +
                     "target_version NVARCHAR(64) NOT NULL, status NVARCHAR(16) NOT NULL, total_rows BIGINT NOT NULL DEFAULT 0, processed BIGINT NOT NULL DEFAULT 0, " +
                     "skipped BIGINT NOT NULL DEFAULT 0, errors BIGINT NOT NULL DEFAULT 0, last_key NVARCHAR(900) NULL, batch_size INT NOT NULL, " +
                     "commit_every INT NOT NULL, created_at DATETIME2 NOT NULL, started_at DATETIME2 NULL, updated_at DATETIME2 NULL, finished_at DATETIME2 NULL, owner NVARCHAR(200) NULL, message NVARCHAR(2000) NULL)";
        // A job's error rows are read and deleted by job_id (Get-ReencryptJob, Remove-ReencryptJob): indexed, as on the other
        // databases, but only when the table is created here. A separate CREATE INDEX would run on every Start-Reencryption
        // and need ALTER on a table that exists already, which a runner with data rights only does not have.
        yield return $"IF OBJECT_ID(N'{e}', N'U') IS NULL BEGIN CREATE TABLE {QuoteTable(errors)} (job_id BIGINT NOT NULL, row_key NVARCHAR(900) NULL, reason NVARCHAR(2000) NOT NULL, created_at DATETIME2 NOT NULL) " +
                     $"CREATE INDEX {Quote(errors.Name + "_job")} ON {QuoteTable(errors)} (job_id) END";
    }

    public override string InsertReturningId(TableName table, IReadOnlyList<string> columns) =>
        $"INSERT INTO {QuoteTable(table)} ({string.Join(", ", columns.Select(Quote))}) OUTPUT inserted.{Quote("id")} VALUES ({string.Join(", ", columns.Select(c => "@" + c))})";

    public override string SelectTop(TableName table, string columns, string where, string orderBy) =>
        $"SELECT TOP (@limit) {columns} FROM {QuoteTable(table)}{(where.Length > 0 ? " WHERE " + where : "")} ORDER BY {orderBy}";

    public const string LockStatement = "EXEC sp_getapplock @Resource = @target, @LockMode = 'Exclusive', @LockOwner = 'Transaction', @LockTimeout = 30000";

    public override void LockTarget(DbConnection connection, DbTransaction transaction, string target)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = LockStatement;
        AddParameter(command, "@target", "SecretsPS:" + target);
        command.ExecuteNonQuery();
    }

    public const string ServerStartQuery = "SELECT CAST(SWITCHOFFSET(CAST(sqlserver_start_time AS DATETIMEOFFSET), 0) AS DATETIME2) FROM sys.dm_os_sys_info";

    public override DateTime? ServerStartTime(DbConnection connection, DbTransaction? transaction)
    {
        try { return QueryTime(connection, transaction, ServerStartQuery); }
        catch (DbException) { return null; } // needs VIEW SERVER STATE: without it, the heartbeat rule alone applies
    }

    public override DbParameter AddKeyParameter(DbCommand command, string name, object key, ColumnTarget target) =>
        Add(command, name, SqlServerParameterType.ForKey(target.KeyType), key);

    /// <summary>A lost connection, or one of SQL Server's documented transient errors (<see cref="TransientErrorNumbers"/>).</summary>
    public override bool IsTransient(Exception exception) =>
        IsConnectionFailure(exception) || FirstSqlException(exception) is { } s && s.Errors.Cast<SqlError>().Any(e => TransientErrorNumbers.Contains(e.Number));

    /// <summary>
    /// SQL Server's sign-in and database errors by number (18456 login failed, with its variants for locked, expired and
    /// token sign-ins; 4060 and 911 no such database), TLS by the handshake's exception or the certificate's words, then
    /// the generic kinds.
    /// </summary>
    public override ConnectionFailureKind ClassifyConnectionFailure(Exception exception)
    {
        if (FirstSqlException(exception) is { } s)
        {
            var numbers = s.Errors.Cast<SqlError>().Select(e => e.Number).Append(s.Number).ToHashSet();
            if (numbers.Overlaps(AuthenticationErrorNumbers)) return ConnectionFailureKind.Authentication;
            if (numbers.Overlaps(DatabaseMissingErrorNumbers)) return ConnectionFailureKind.DatabaseMissing;
        }
        for (var e = exception; e is not null; e = e.InnerException)
        {
            // SqlClient reports a refused certificate as a SqlException (class 20) around the handshake's exception, or,
            // with the native network layer, only in its message: "The certificate chain was issued by an authority that is
            // not trusted", "certificate … name … does not match".
            if (e is System.Security.Authentication.AuthenticationException) return ConnectionFailureKind.Tls;
            if (e is SqlException && (e.Message.Contains("SSL Provider", StringComparison.Ordinal) || e.Message.Contains("certificate", StringComparison.OrdinalIgnoreCase)))
                return ConnectionFailureKind.Tls;
        }
        return base.ClassifyConnectionFailure(exception);
    }

    /// <summary>18456 login failed; 18452 untrusted domain; 18486–18488 account locked, password expired, must change.</summary>
    public static readonly IReadOnlyList<int> AuthenticationErrorNumbers = [18456, 18452, 18486, 18487, 18488];

    /// <summary>4060 cannot open the database the login asked for; 911 no such database.</summary>
    public static readonly IReadOnlyList<int> DatabaseMissingErrorNumbers = [4060, 911];

    private static SqlException? FirstSqlException(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
            if (e is SqlException s) return s;
        return null;
    }

    public override bool IsConnectionFailure(Exception exception) => exception switch
    {
        SqlException s => s.Class >= 20 || s.Number is -2 or 53 or 233 or 10053 or 10054 or 10060 or 4060 or 40613 or 40197 or 40501,
        IOException or System.Net.Sockets.SocketException or TimeoutException => true,
        _ => exception.InnerException is not null && IsConnectionFailure(exception.InnerException),
    };

    protected override string CurrentSchemaSql => "SCHEMA_NAME()";

    protected override bool SearchesCurrentSchemaOnly => false;

    public override string SelectWithPrefix(TableName table, string column, int limit) =>
        $"SELECT TOP ({limit}) {Quote(column)} FROM {QuoteTable(table)} WHERE {VersionPrefixOf(Quote(column))} = @prefix";

    public override string CreateChunkTable(TableName chunks) =>
        $"IF OBJECT_ID(N'{QuoteTable(chunks).Replace("'", "''")}', N'U') IS NULL CREATE TABLE {QuoteTable(chunks)} (job_id BIGINT NOT NULL, chunk INT NOT NULL, " +
        "low_key NVARCHAR(900) NULL, high_key NVARCHAR(900) NULL, last_key NVARCHAR(900) NULL, status NVARCHAR(16) NOT NULL, processed BIGINT NOT NULL DEFAULT 0, " +
        "skipped BIGINT NOT NULL DEFAULT 0, errors BIGINT NOT NULL DEFAULT 0, owner NVARCHAR(200) NULL, updated_at DATETIME2 NULL, PRIMARY KEY (job_id, chunk))";

    public override string SelectChunkPage(ColumnTarget target, int limit, bool fromStart, bool toEnd)
    {
        var k = Quote(target.KeyColumn);
        var c = Quote(target.Column);
        return $"SELECT TOP ({limit}) {KeyAsText(k, target.KeyType)}, {c} FROM {QuoteTable(target.Table)} WHERE {c} IS NOT NULL{ChunkBounds(target, fromStart, toEnd)} ORDER BY {k}";
    }

    public override string SelectKeySample(ColumnTarget target, double fraction)
    {
        var k = Quote(target.KeyColumn);
        var c = Quote(target.Column);
        var sample = fraction < 1 ? $" TABLESAMPLE SYSTEM ({Number(fraction * 100)} PERCENT)" : "";
        return $"SELECT {KeyAsText(k, target.KeyType)} FROM {QuoteTable(target.Table)}{sample} WHERE {c} IS NOT NULL ORDER BY {k}";
    }

    /// <summary>UPDLOCK holds the rows read until the transaction ends; READPAST skips the rows another claim or batch holds.</summary>
    public override string SelectForClaim(TableName table, string columns, string where, string orderBy, bool skipLocked) =>
        $"SELECT {columns} FROM {QuoteTable(table)} WITH (UPDLOCK, {(skipLocked ? "READPAST, " : "")}ROWLOCK) WHERE {where} ORDER BY {orderBy}";
}
