using Microsoft.Data.Sqlite;
using SecretsPS.Core.Data;

namespace SecretsPS.Core.Tests;

/// <summary>The names a database holds, for "not found" messages with the nearest names and for tab completion.</summary>
public sealed class CatalogNamesTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData("usuario", new[] { "usuarios", "clientes", "pedidos" }, new[] { "usuarios" })]
    [InlineData("Usuarios", new[] { "usuarios", "clientes" }, new[] { "usuarios" })]
    [InlineData("otp", new[] { "id", "otp_secret", "nome" }, new[] { "otp_secret" })]
    [InlineData("usuarios", new[] { "public.usuarios", "audit.usuarios_log" }, new[] { "public.usuarios", "audit.usuarios_log" })]
    [InlineData("zzzzqqqq", new[] { "usuarios", "clientes" }, new string[0])]
    public void Nearest_names_are_likely_typos_best_first(string typed, string[] names, string[] expected) =>
        Assert.Equal(expected, CatalogNames.Nearest(typed, names));

    [Fact]
    public void Nearest_gives_at_most_three_and_bears_very_long_names()
    {
        var names = Enumerable.Range(0, 50).Select(i => "t" + i).Append(new string('x', 100_000)).ToList();
        Assert.Equal(3, CatalogNames.Nearest("t1", names).Count);
        Assert.Empty(CatalogNames.Nearest(new string('y', 100_000), new[] { "usuarios" }));
    }

    [Fact]
    public void A_SQLite_database_lists_its_tables_and_a_table_its_columns()
    {
        var path = Path.Combine(_folder.Path, "app.db");
        using (var create = new SqliteConnection($"Data Source={path}"))
        {
            create.Open();
            using var command = create.CreateCommand();
            command.CommandText = "CREATE TABLE usuarios (id INTEGER PRIMARY KEY, otp_secret TEXT); CREATE TABLE \"com espaço\" (x TEXT); CREATE VIEW v AS SELECT id FROM usuarios;";
            command.ExecuteNonQuery();
        }
        var dialect = SqlDialect.For(DatabaseProvider.Sqlite);
        using var connection = DatabaseConnection.Open(dialect, path, new DatabaseSignIn(null, null, null), readOnly: true);
        Assert.Equal(new[] { "com espaço", "usuarios", "v" }, CatalogNames.Tables(dialect, connection));
        Assert.Equal(new[] { "id", "otp_secret" }, CatalogNames.Columns(dialect, connection, new TableName(null, "usuarios")));
        Assert.Null(CatalogNames.Columns(dialect, connection, new TableName(null, "nope")));
    }
}
