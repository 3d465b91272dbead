namespace SecretsPS.Core.Data;

/// <summary>
/// A column as the database catalog lists it. <see cref="InDefaultSchema"/> is true when an unqualified name resolves to
/// this table (SQLite's main database, PostgreSQL's current schema, SQL Server's default schema): a target named
/// without a schema is this column when the names match.
/// </summary>
public sealed record CatalogColumn(TableName Table, string Column, ColumnType Type, bool InDefaultSchema);
