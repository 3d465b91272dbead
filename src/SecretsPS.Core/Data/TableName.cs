namespace SecretsPS.Core.Data;

/// <summary>A table name as the user gave it, split into an optional schema and the name. Quoting is the dialect's job.</summary>
public sealed record TableName(string? Schema, string Name)
{
    public override string ToString() => Schema is null ? Name : Schema + "." + Name;
}
