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
        if (signIn.UserName is not null) builder.UserID = signIn.UserName;
        if (signIn.Password is not null) builder.Password = signIn.Password;
        if (readOnly) builder.ApplicationIntent = ApplicationIntent.ReadOnly;
        if (string.IsNullOrEmpty(builder.ApplicationName) || builder.ApplicationName == ".Net SqlClient Data Provider") builder.ApplicationName = "SecretsPS";
        var connection = new SqlConnection(builder.ToString());
        if (signIn.AccessToken is not null) connection.AccessToken = signIn.AccessToken;
        return connection;
    }

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

    protected override string KeyParameter(string parameter, ColumnType type) => $"CONVERT({type.Declared}, {parameter}{Style(type)})";

    /// <summary>A binary collation: the default ones are case- and accent-insensitive.</summary>
    protected override string ExactlyEquals(string quotedColumn, string parameter) => $"{quotedColumn} = {parameter} COLLATE Latin1_General_100_BIN2";

    protected override string FirstCodePoint(string quotedColumn) => $"UNICODE({quotedColumn})";

    /// <summary>
    /// SQL Server before 2022 has no LTRIM with characters: skip to the first character that is not whitespace (the
    /// pattern's brackets as NCHAR(91) and NCHAR(93), so that no bracket stands outside a quoted name).
    /// </summary>
    protected override string TrimLeading(string quotedColumn) =>
        $"SUBSTRING({quotedColumn}, PATINDEX(N'%' + NCHAR(91) + N'^' + {string.Join(" + ", ApplicationWhitespace.Select(c => $"NCHAR({c})"))} + NCHAR(93) + N'%', {quotedColumn}), 2147483647)";

    public const string ColumnTypeQuery =
        "SELECT DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION FROM INFORMATION_SCHEMA.COLUMNS " +
        "WHERE TABLE_NAME = @t AND TABLE_SCHEMA = COALESCE(@s, SCHEMA_NAME()) AND COLUMN_NAME = @c";

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
        return Declare(reader.GetString(0), Int(1), Int(2), Int(3), Int(4));
    }

    /// <summary>The declared type from INFORMATION_SCHEMA's parts (alias types are already resolved to their base type there).</summary>
    public static ColumnType Declare(string dataType, int? maxLength, int? precision, int? scale, int? datetimePrecision)
    {
        var name = dataType.ToLowerInvariant();
        var declared = name switch
        {
            "char" or "varchar" or "nchar" or "nvarchar" or "binary" or "varbinary" => $"{name}({(maxLength is null or -1 ? "max" : maxLength.ToString())})",
            "decimal" or "numeric" => $"{name}({precision ?? 18}, {scale ?? 0})",
            "datetime2" or "datetimeoffset" or "time" => $"{name}({datetimePrecision ?? 7})",
            _ => name,
        };
        return new ColumnType(declared, name);
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

    protected override string Prefix(string quotedColumn) => $"LEFT({quotedColumn}, CHARINDEX(':', {quotedColumn}) - 1)";

    protected override string TokenStart(string quotedColumn) => $"SUBSTRING({quotedColumn}, CHARINDEX(':', {quotedColumn}) + 1, 8)";

    /// <summary>The statement for one chunk of rows; public so the emitted SQL can be tested without a server.</summary>
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
        return $"UPDATE target SET target.{c} = v.n OUTPUT {KeyAsText("inserted." + k, target.KeyType)} FROM {QuoteTable(target.Table)} AS target " +
               $"INNER JOIN (VALUES {values}) AS v(k, o, n) ON target.{k} = {KeyParameter("v.k", target.KeyType)} AND {ExactlyEquals("target." + c, "v.o")}";
    }

    public override IReadOnlyCollection<object> UpdateGuarded(DbConnection connection, DbTransaction transaction, ColumnTarget target, IReadOnlyList<RowUpdate> rows)
    {
        var written = new List<object>(rows.Count);
        for (int start = 0; start < rows.Count; start += RowsPerStatement)
        {
            using var command = UpdateCommand(connection, target, rows, start, Math.Min(RowsPerStatement, rows.Count - start));
            command.Transaction = transaction;
            using var reader = command.ExecuteReader();
            while (reader.Read()) written.Add(reader.GetString(0));
        }
        return written;
    }

    /// <summary>
    /// One chunk's command; public so its parameters can be tested without a server. Text parameters get a fixed
    /// size: sized by each value, every batch would declare different parameter types, and SQL Server would compile
    /// and cache a plan per batch.
    /// </summary>
    public DbCommand UpdateCommand(DbConnection connection, ColumnTarget target, IReadOnlyList<RowUpdate> rows, int start, int count)
    {
        var command = connection.CreateCommand();
        command.CommandText = UpdateStatement(target, count);
        for (int i = 0; i < count; i++)
        {
            var row = rows[start + i];
            Sized(AddParameter(command, "@k" + i, row.Key));
            Sized(AddParameter(command, "@o" + i, row.OldValue));
            Sized(AddParameter(command, "@n" + i, row.NewValue));
        }
        return command;
    }

    /// <summary>nvarchar(4000), or nvarchar(max) for longer text; other types keep what the provider infers.</summary>
    private static void Sized(DbParameter parameter)
    {
        if (parameter.Value is not string text) return;
        parameter.DbType = System.Data.DbType.String;
        parameter.Size = text.Length <= MaxSizedText ? MaxSizedText : -1;
    }

    private const int MaxSizedText = 4000;

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
}
