namespace SecretsPS.Core.Data;

/// <summary>
/// A column's type as its database declares it. <see cref="Declared"/> is the database's own spelling (usable in a
/// CAST back to the column's type); <see cref="Base"/> is the lower-case name the dialect judges it by (a domain or
/// alias type resolved to its base type; on SQLite, the column's affinity).
/// </summary>
public sealed record ColumnType(string Declared, string Base)
{
    public override string ToString() => Declared.Length > 0 ? Declared : "(no declared type)";
}
