using System.Data;
using System.Data.Common;
using Microsoft.Data.SqlClient;
using Microsoft.SqlServer.TransactSql.ScriptDom;
using SecretsPS.Core.Data;
using SecretsPS.Core.Reencryption;
using ColumnType = SecretsPS.Core.Data.ColumnType;
using IsolationLevel = System.Data.IsolationLevel;
using Identifier = SecretsPS.Core.Data.Identifier;

namespace SecretsPS.Core.Tests;

/// <summary>
/// Every statement the SQL Server dialect and the job store send, parsed by Microsoft's own T-SQL parser
/// (Microsoft.SqlServer.TransactSql.ScriptDom) as SQL Server 2016 (the oldest the dialect supports), as the newest
/// SQL Server and as Azure SQL: zero parse errors, with every hostile name of <see cref="HostileNames"/> and every key
/// type the dialect pages by. There is no SQL Server here; this is the closest the suite comes to one. Where the tree
/// proves more than the text, it is walked: the written keys go INTO a table variable, the guard compares under a
/// binary collation, the key column is compared bare (so its index can be sought), and a hostile name stays one name.
/// </summary>
public sealed class SqlServerScriptDomTests
{
    private static readonly SqlServerDialect Dialect = new();

    /// <summary>SQL Server 2016, the newest SQL Server the parser knows, and Azure SQL.</summary>
    private static readonly (string Name, Func<TSqlParser> Create)[] Parsers =
    [
        ("SQL Server 2016 (TSql130Parser)", () => new TSql130Parser(initialQuotedIdentifiers: true)),
        ("newest SQL Server (TSql180Parser)", () => new TSql180Parser(initialQuotedIdentifiers: true)),
        ("Azure SQL (TSql180Parser, SqlAzure)", () => new TSql180Parser(true, SqlEngineType.SqlAzure)),
    ];

    /// <summary>Every key type the dialect pages by, as <see cref="SqlServerDialect.Declare"/> builds it from the catalog.</summary>
    public static readonly ColumnType[] KeyTypes =
    [
        SqlServerDialect.Declare("tinyint", null, 3, 0, null),
        SqlServerDialect.Declare("smallint", null, 5, 0, null),
        SqlServerDialect.Declare("int", null, 10, 0, null),
        SqlServerDialect.Declare("bigint", null, 19, 0, null),
        SqlServerDialect.Declare("bit", null, null, null, null),
        SqlServerDialect.Declare("decimal", null, 18, 4, null),
        SqlServerDialect.Declare("numeric", null, 38, 10, null),
        SqlServerDialect.Declare("float", null, 53, null, null),
        SqlServerDialect.Declare("real", null, 24, null, null),
        SqlServerDialect.Declare("uniqueidentifier", null, null, null, null),
        SqlServerDialect.Declare("date", null, null, null, 0),
        SqlServerDialect.Declare("time", null, null, null, 7),
        SqlServerDialect.Declare("datetime", null, null, null, 3),
        SqlServerDialect.Declare("datetime2", null, null, null, 3),
        SqlServerDialect.Declare("smalldatetime", null, null, null, 0),
        SqlServerDialect.Declare("datetimeoffset", null, null, null, 7),
        SqlServerDialect.Declare("char", 10, null, null, null, "SQL_Latin1_General_CP1_CI_AS"),
        SqlServerDialect.Declare("varchar", 50, null, null, null, "SQL_Latin1_General_CP1_CI_AS"),
        SqlServerDialect.Declare("varchar", 50, null, null, null, "Cyrillic_General_CI_AS", sharesDatabaseCodePage: false),
        SqlServerDialect.Declare("nchar", 10, null, null, null, "Latin1_General_100_CI_AS_SC"),
        SqlServerDialect.Declare("nvarchar", 100, null, null, null, "Japanese_XJIS_140_CI_AS"),
    ];

    private static readonly ColumnType[] ColumnTypes =
    [
        SqlServerDialect.Declare("nvarchar", 200, null, null, null, "SQL_Latin1_General_CP1_CI_AS"),
        SqlServerDialect.Declare("varchar", 500, null, null, null, "SQL_Latin1_General_CP1_CI_AS"),
        SqlServerDialect.Declare("nvarchar", -1, null, null, null, "Latin1_General_100_CI_AS_SC_UTF8"),
        SqlServerDialect.Declare("varchar", -1, null, null, null, "Greek_CI_AS", sharesDatabaseCodePage: false),
        SqlServerDialect.Declare("char", 300, null, null, null, "SQL_Latin1_General_CP1_CS_AS"),
    ];

    public static TheoryData<string> Ids => HostileNames.Ids;

    /// <summary>The statements of one run on one target, from the dialect and from the job store (recorded as sent).</summary>
    private static List<(string What, string Sql)> Statements(HostileCase c, ColumnType keyType, ColumnType columnType, bool withLargeUpdate)
    {
        var table = Identifier.ParseTable(HostileNames.Option(c.Table));
        var target = ColumnTarget.Declared(table, c.Column, c.Key, keyType, columnType);
        var list = new List<(string, string)>
        {
            ("SelectPage from the start", Dialect.SelectPage(target, 500, fromStart: true)),
            ("SelectPage after the cursor", Dialect.SelectPage(target, 500, fromStart: false)),
            ("SelectOne", Dialect.SelectOne(target)),
            ("UpdateOneStatement", Dialect.UpdateOneStatement(target)),
            ("guarded update, 1 row", Dialect.UpdateStatement(target, 1)),
            ("Probe", Dialect.Probe(table, c.Key, c.Column)),
            ("ProbeColumn", Dialect.ProbeColumn(table, c.Column)),
            ("KeyStatistics", Dialect.KeyStatistics(table, c.Key)),
            ("CountNonNull", Dialect.CountNonNull(table, c.Column)),
            ("CountByPrefix", Dialect.CountByPrefix(table, c.Column)),
            ("SelectSample", Dialect.SelectSample(table, c.Column, 20)),
            ("SelectChunkPage, first chunk", Dialect.SelectChunkPage(target, 500, fromStart: true, toEnd: false)),
            ("SelectChunkPage, middle chunk", Dialect.SelectChunkPage(target, 500, fromStart: false, toEnd: false)),
            ("SelectChunkPage, last chunk", Dialect.SelectChunkPage(target, 500, fromStart: false, toEnd: true)),
            ("SelectKeySample, every key", Dialect.SelectKeySample(target, 1)),
            ("SelectKeySample, sampled", Dialect.SelectKeySample(target, 0.0125)),
        };
        if (withLargeUpdate) list.Add(("guarded update, 600 rows", Dialect.UpdateStatement(target, SqlServerDialect.RowsPerStatement)));
        list.AddRange(JobStoreStatements(HostileNames.Option(c.JobTable)).Select(s => ("job store: " + s, s)));
        return list;
    }

    private static readonly (string What, string Sql)[] FixedStatements =
    [
        ("LockStatement", SqlServerDialect.LockStatement),
        ("ServerStartQuery", SqlServerDialect.ServerStartQuery),
        ("ColumnTypeQuery", SqlServerDialect.ColumnTypeQuery),
        ("PrimaryKeyQuery", SqlServerDialect.PrimaryKeyQuery),
        ("ColumnLengthQuery", SqlServerDialect.ColumnLengthQuery),
    ];

    [Theory]
    [MemberData(nameof(Ids))]
    public void Every_statement_parses_without_error_as_SQL_Server_2016_the_newest_SQL_Server_and_Azure_SQL_for_every_key_type(string id)
    {
        var c = HostileNames.Get(id);
        var failures = new List<string>();
        int parsed = 0;
        for (int i = 0; i < KeyTypes.Length; i++)
        {
            var statements = Statements(c, KeyTypes[i], ColumnTypes[i % ColumnTypes.Length], withLargeUpdate: i == 0).Concat(FixedStatements);
            foreach (var (what, sql) in statements)
            foreach (var (parserName, create) in Parsers)
            {
                create().Parse(new StringReader(sql), out var errors);
                parsed++;
                foreach (var e in errors)
                    failures.Add($"{parserName}, key {KeyTypes[i]}, {what}: line {e.Line} col {e.Column}: {e.Message}\n  {sql[..Math.Min(sql.Length, 400)]}");
            }
        }
        Assert.True(parsed > 400, $"only {parsed} statements were parsed");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
    }

    [Fact]
    public void The_600_row_guarded_update_parses_for_every_key_type_and_stays_under_2100_parameters()
    {
        var table = new TableName("dbo", "secrets");
        foreach (var keyType in KeyTypes)
        foreach (var (parserName, create) in Parsers)
        {
            var sql = Dialect.UpdateStatement(ColumnTarget.Declared(table, "secret", "id", keyType, ColumnTypes[0]), SqlServerDialect.RowsPerStatement);
            var script = create().Parse(new StringReader(sql), out var errors);
            Assert.True(errors.Count == 0, $"{parserName}, {keyType}: {string.Join("; ", errors.Select(e => e.Message))}");
            var variables = new VariableCollector();
            script.Accept(variables);
            Assert.Equal(3 * SqlServerDialect.RowsPerStatement, variables.Names.Count(n => n != "@written"));
            Assert.True(variables.Names.Count < 2100);
        }
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void The_guarded_update_is_one_UPDATE_whose_OUTPUT_goes_INTO_a_table_variable_whose_guard_is_binary_and_whose_rows_are_read_back(string id)
    {
        var c = HostileNames.Get(id);
        var table = Identifier.ParseTable(HostileNames.Option(c.Table));
        foreach (var keyType in KeyTypes)
        {
            var sql = Dialect.UpdateStatement(ColumnTarget.Declared(table, c.Column, c.Key, keyType, ColumnTypes[0]), 3);
            var script = Parse(sql);
            var statements = ((TSqlScript)script).Batches.Single().Statements;

            // DECLARE @written TABLE, then the one UPDATE, then the SELECT of what it wrote: nothing else.
            Assert.Collection(statements,
                s => Assert.Equal("@written", Assert.IsType<DeclareTableVariableStatement>(s).Body.VariableName.Value),
                s => Assert.IsType<UpdateStatement>(s),
                s => Assert.IsType<SelectStatement>(s));
            var update = ((UpdateStatement)statements[1]).UpdateSpecification;

            // Error 334: an OUTPUT without INTO is refused on a table with an enabled trigger.
            Assert.Null(update.OutputClause);
            Assert.Equal("@written", Assert.IsType<VariableTableReference>(update.OutputIntoClause.IntoTable).Variable.Name);

            // The table written is the hostile table, named whole (an injection would have named another).
            var written = update.FromClause.TableReferences.OfType<QualifiedJoin>().Single().FirstTableReference;
            var named = Assert.IsType<NamedTableReference>(written);
            Assert.Equal(table.Name, named.SchemaObject.BaseIdentifier.Value);
            Assert.Equal(table.Schema, named.SchemaObject.SchemaIdentifier?.Value);

            // The guard: the encrypted column equals the value that was read, under a binary collation (byte for byte).
            var comparisons = new ComparisonCollector();
            script.Accept(comparisons);
            Assert.Contains(comparisons.Found, b =>
                b.ComparisonType == BooleanComparisonType.Equals
                && b.FirstExpression is ColumnReferenceExpression left && left.MultiPartIdentifier.Identifiers.Last().Value == c.Column
                && b.SecondExpression is ColumnReferenceExpression right && right.MultiPartIdentifier.Identifiers.Last().Value == "o"
                && right.Collation?.Value == "Latin1_General_100_BIN2");

            // What counts as written: the keys whose row, read back from the same table, now holds the new value exactly.
            var readBack = (QuerySpecification)((SelectStatement)statements[2]).QueryExpression;
            var join = Assert.IsType<QualifiedJoin>(Assert.Single(readBack.FromClause.TableReferences));
            Assert.Equal("@written", Assert.IsType<VariableTableReference>(join.FirstTableReference).Variable.Name);
            Assert.Equal(table.Name, Assert.IsType<NamedTableReference>(join.SecondTableReference).SchemaObject.BaseIdentifier.Value);
            Assert.Contains(comparisons.Found, b =>
                b.FirstExpression is ColumnReferenceExpression left && left.MultiPartIdentifier.Identifiers.Last().Value == c.Column
                && left.MultiPartIdentifier.Identifiers[0].Value == "stored"
                && b.SecondExpression is ColumnReferenceExpression right && right.MultiPartIdentifier.Identifiers.Last().Value == "n"
                && right.Collation?.Value == "Latin1_General_100_BIN2");
        }
    }

    /// <summary>
    /// SARGability: wherever the key column is compared (the page's cursor, one row's key, the batch's join), it stands
    /// bare on its side and every conversion is on the parameter's side, so the server seeks the key's index instead of
    /// converting every row; and the page is ordered by the bare key, the order the cursor compares in.
    /// </summary>
    [Theory]
    [MemberData(nameof(Ids))]
    public void The_key_column_is_compared_and_ordered_bare_with_every_conversion_on_the_parameter_side(string id)
    {
        var c = HostileNames.Get(id);
        var table = Identifier.ParseTable(HostileNames.Option(c.Table));
        foreach (var keyType in KeyTypes)
        {
            var target = ColumnTarget.Declared(table, c.Column, c.Key, keyType, ColumnTypes[0]);
            foreach (var sql in new[] { Dialect.SelectPage(target, 10, fromStart: false), Dialect.SelectOne(target), Dialect.UpdateStatement(target, 2) })
            {
                var script = Parse(sql);
                var comparisons = new ComparisonCollector();
                script.Accept(comparisons);
                var onKey = comparisons.Found.Where(b => Mentions(b, c.Key)).ToList();
                Assert.NotEmpty(onKey);
                foreach (var b in onKey)
                {
                    var keySide = Assert.IsType<ColumnReferenceExpression>(b.FirstExpression);
                    Assert.Equal(c.Key, keySide.MultiPartIdentifier.Identifiers.Last().Value);
                    Assert.Null(keySide.Collation);
                    Assert.False(Mentions(b.SecondExpression, c.Key), $"{keyType}: the key column on the converted side in {sql}");
                }
            }

            var page = Parse(Dialect.SelectPage(target, 10, fromStart: false));
            var order = new OrderCollector();
            page.Accept(order);
            var key = Assert.IsType<ColumnReferenceExpression>(Assert.Single(order.Found).Expression);
            Assert.Equal(c.Key, key.MultiPartIdentifier.Identifiers.Last().Value);
        }
    }

    [Fact]
    public void A_varchar_key_outside_the_database_code_page_is_converted_in_its_own_collation()
    {
        var keyType = SqlServerDialect.Declare("varchar", 50, null, null, null, "Cyrillic_General_CI_AS", sharesDatabaseCodePage: false);
        var sql = Dialect.SelectPage(ColumnTarget.Declared(new TableName(null, "t"), "secret", "code", keyType, ColumnTypes[0]), 10, fromStart: false);
        var comparisons = new ComparisonCollector();
        Parse(sql).Accept(comparisons);
        var convert = Assert.IsType<ConvertCall>(Assert.Single(comparisons.Found).SecondExpression);
        Assert.Equal("Cyrillic_General_CI_AS", Assert.IsType<VariableReference>(convert.Parameter).Collation.Value);
    }

    [Fact]
    public void A_collation_that_is_not_a_plain_name_is_never_written_into_a_statement()
    {
        var hostile = SqlServerDialect.Declare("varchar", 50, null, null, null, "Latin1_General_CI_AS; DROP TABLE x", sharesDatabaseCodePage: false);
        Assert.Null(hostile.Collation);
        Assert.True(hostile.SharesDatabaseCodePage);
        var sql = Dialect.SelectPage(ColumnTarget.Declared(new TableName(null, "t"), "secret", "code", hostile, ColumnTypes[0]), 10, fromStart: false);
        Assert.DoesNotContain("DROP", sql);
    }

    private static TSqlFragment Parse(string sql)
    {
        var script = new TSql130Parser(true).Parse(new StringReader(sql), out var errors);
        Assert.True(errors.Count == 0, string.Join("; ", errors.Select(e => e.Message)) + "\n" + sql);
        return script;
    }

    private static bool Mentions(TSqlFragment fragment, string column)
    {
        var columns = new ColumnCollector();
        fragment.Accept(columns);
        return columns.Names.Contains(column);
    }

    private sealed class ComparisonCollector : TSqlFragmentVisitor
    {
        public List<BooleanComparisonExpression> Found { get; } = [];
        public override void ExplicitVisit(BooleanComparisonExpression node) { Found.Add(node); base.ExplicitVisit(node); }
    }

    private sealed class OrderCollector : TSqlFragmentVisitor
    {
        public List<ExpressionWithSortOrder> Found { get; } = [];
        public override void ExplicitVisit(ExpressionWithSortOrder node) { Found.Add(node); base.ExplicitVisit(node); }
    }

    private sealed class ColumnCollector : TSqlFragmentVisitor
    {
        public HashSet<string> Names { get; } = new(StringComparer.Ordinal);
        public override void ExplicitVisit(ColumnReferenceExpression node)
        {
            if (node.MultiPartIdentifier is { } m) Names.Add(m.Identifiers.Last().Value);
            base.ExplicitVisit(node);
        }
    }

    private sealed class VariableCollector : TSqlFragmentVisitor
    {
        public HashSet<string> Names { get; } = new(StringComparer.Ordinal);
        public override void ExplicitVisit(VariableReference node) { Names.Add(node.Name); base.ExplicitVisit(node); }
        public override void ExplicitVisit(VariableTableReference node) { Names.Add(node.Variable.Name); base.ExplicitVisit(node); }
    }

    // ------------------------------------------------------------------ the job store's statements, as sent

    /// <summary>Everything the job store sends for SQL Server, recorded by a connection that only records.</summary>
    private static List<string> JobStoreStatements(string jobTable)
    {
        var store = new JobStore(Dialect, jobTable);
        using var connection = new RecordingConnection();
        store.EnsureTables(connection);
        using (var transaction = connection.BeginTransaction())
        {
            var job = new ReencryptJob(0, "dbo.secrets", "secret", "id", "v2", JobStatus.Running, 10, 0, 0, 0, null, 500, 1000,
                DateTime.UtcNow, DateTime.UtcNow, DateTime.UtcNow, null, "host:1", null);
            var id = store.Insert(connection, transaction, job);
            store.AddErrors(connection, transaction, id, [("1", "reason one"), ("2", "reason two")], DateTime.UtcNow);
            store.Get(connection, transaction, id);
            store.ForTarget(connection, transaction, "dbo.secrets", "secret");
            // The chunk table's statements: creation of a job's chunks, the claim (UPDLOCK, READPAST), a batch's bookkeeping.
            store.Chunks.Insert(connection, transaction, id, ["10", "20"], DateTime.UtcNow);
            store.Chunks.InsertWhole(connection, transaction, new ReencryptJob(job) { Id = id, LastKey = "42" }, DateTime.UtcNow);
            store.Chunks.Candidates(connection, transaction, id);
            store.Chunks.All(connection, transaction, id);
            store.Chunks.Get(connection, transaction, id, 1);
            store.Chunks.Claim(connection, transaction, id, 1, "host:1:w0-0123abcd", DateTime.UtcNow);
            store.Chunks.CommitBatch(connection, transaction, id, 1, "host:1:w0-0123abcd", "15", 5, 1, 0, (5, 1, 0), ChunkStatus.Running, DateTime.UtcNow);
            store.Chunks.CommitBatch(connection, transaction, id, 1, "host:1:w0-0123abcd", "15", 5, 1, 0, (0, 0, 0), ChunkStatus.Pending, DateTime.UtcNow);
            store.Chunks.JobCounters(connection, transaction, id);
            store.Chunks.MarkDone(connection, transaction, id, 1, "host:1:w0-0123abcd", DateTime.UtcNow);
            store.Chunks.Release(connection, transaction, id, 1, "host:1:w0-0123abcd", DateTime.UtcNow);
            store.SaveState(connection, transaction, new ReencryptJob(job) { Id = id });
            store.Beat(connection, transaction, id, "host:1:w0-0123abcd", DateTime.UtcNow);
        }
        store.List(connection, null, null, null, 10);
        store.List(connection, 7, [JobStatus.Running, JobStatus.Paused], "dbo.secrets", 10);
        store.ErrorsOf(connection, 7);
        store.Delete(connection, 7);
        Assert.True(connection.Sent.Count >= 10, "the job store sent fewer statements than expected: " + string.Join(" | ", connection.Sent));
        return connection.Sent.Distinct().ToList();
    }
}

/// <summary>
/// Records each statement and answers as an empty database would (a probe for a table finds none, an INSERT returns
/// id 1), with SqlClient's own parameters.
/// </summary>
internal sealed class RecordingConnection : DbConnection
{
    public List<string> Sent { get; } = [];

    /// <summary>What a query returns; by default nothing (an empty result).</summary>
    public Func<string, DbDataReader> Reader { get; init; } = _ => new DataTable().CreateDataReader();
    [System.Diagnostics.CodeAnalysis.AllowNull] public override string ConnectionString { get; set; } = "";
    public override string Database => "recorded";
    public override string DataSource => "recorded";
    public override string ServerVersion => "16.00";
    public override ConnectionState State => ConnectionState.Open;
    public override void ChangeDatabase(string databaseName) { }
    public override void Close() { }
    public override void Open() { }
    protected override DbTransaction BeginDbTransaction(IsolationLevel isolationLevel) => new RecordingTransaction(this);
    protected override DbCommand CreateDbCommand() => new RecordingCommand(this);
}

internal sealed class RecordingTransaction(DbConnection connection) : DbTransaction
{
    public override IsolationLevel IsolationLevel => IsolationLevel.ReadCommitted;
    protected override DbConnection DbConnection => connection;
    public override void Commit() { }
    public override void Rollback() { }
}

internal sealed class RecordedProbeFailed() : DbException("no such table (recorded)");

internal sealed class RecordingCommand(RecordingConnection connection) : DbCommand
{
    private readonly SqlCommand _parameters = new();
    [System.Diagnostics.CodeAnalysis.AllowNull] public override string CommandText { get; set; } = "";
    public override int CommandTimeout { get; set; }
    public override CommandType CommandType { get; set; }
    public override bool DesignTimeVisible { get; set; }
    public override UpdateRowSource UpdatedRowSource { get; set; }
    protected override DbConnection? DbConnection { get; set; } = connection;
    protected override DbParameterCollection DbParameterCollection => _parameters.Parameters;
    protected override DbTransaction? DbTransaction { get; set; }
    public override void Cancel() { }
    public override void Prepare() { }
    protected override DbParameter CreateDbParameter() => _parameters.CreateParameter();

    private void Record() => connection.Sent.Add(CommandText);

    public override int ExecuteNonQuery() { Record(); return 1; }

    public override object? ExecuteScalar()
    {
        Record();
        if (CommandText.EndsWith("WHERE 1 = 0", StringComparison.Ordinal)) throw new RecordedProbeFailed();
        return 1L;
    }

    protected override DbDataReader ExecuteDbDataReader(CommandBehavior behavior)
    {
        Record();
        return connection.Reader(CommandText);
    }
}
