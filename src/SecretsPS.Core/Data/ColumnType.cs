namespace SecretsPS.Core.Data;

/// <summary>
/// A column's type as its database declares it. <see cref="Declared"/> is the database's own spelling (usable in a
/// CAST back to the column's type); <see cref="Base"/> is the lower-case name the dialect judges it by (a domain or
/// alias type resolved to its base type; on SQLite, the column's affinity).
/// </summary>
public sealed record ColumnType(string Declared, string Base)
{
    public override string ToString() => Declared.Length > 0 ? Declared : "(no declared type)";

    /// <summary>The column's collation where the database reports one (SQL Server's text columns), else null.</summary>
    public string? Collation { get; init; }

    /// <summary>
    /// False when the column's 8-bit code page is not the database's: a client sends 8-bit text parameters in the
    /// database's code page, so such a column's text can only travel as Unicode (SQL Server's char and varchar).
    /// </summary>
    public bool SharesDatabaseCodePage { get; init; } = true;
}
