using System.Data;
using System.Globalization;
using Microsoft.Data.SqlClient;

namespace SecretsPS.Core.Data;

/// <summary>
/// The type a SQL Server parameter is declared with, chosen from the column it is compared with or written to, once per
/// run: an nvarchar parameter against a varchar column under a SQL collation makes the server convert the column, and
/// the key seek becomes a scan of the whole table on every batch. The size is the column's, fixed for the run, so that
/// every batch declares the same parameters and reuses one compiled plan.
/// </summary>
public readonly record struct SqlServerParameterType(SqlDbType Type, int Size)
{
    /// <summary>(max): the size of a parameter whose column is declared (max), or whose value would not fit.</summary>
    public const int Max = -1;

    /// <summary>
    /// Keys of the types whose text the server converts back with a style (decimals, floats, dates and times) travel
    /// as that text, converted on the parameter's side of the comparison (never the column's, so the seek stays a
    /// seek), exactly as the server wrote it: no client-side conversion can drop a digit, a fraction or an offset.
    /// ASCII always, and never longer than this.
    /// </summary>
    public const int KeyTextSize = 64;

    /// <summary>The declaration as T-SQL spells it ("varchar(50)", "bigint", "nvarchar(max)"), for tests and messages.</summary>
    public string Declaration => Type switch
    {
        SqlDbType.Char or SqlDbType.VarChar or SqlDbType.NChar or SqlDbType.NVarChar =>
            $"{Type.ToString().ToLowerInvariant()}({(Size == Max ? "max" : Size.ToString(CultureInfo.InvariantCulture))})",
        _ => Type.ToString().ToLowerInvariant(),
    };

    /// <summary>A key (the page's cursor @after, a row's @key, a batch's keys), given the key column's type.</summary>
    public static SqlServerParameterType ForKey(ColumnType key) => key.Base switch
    {
        "tinyint" => new(SqlDbType.TinyInt, 0),
        "smallint" => new(SqlDbType.SmallInt, 0),
        "int" => new(SqlDbType.Int, 0),
        "bigint" => new(SqlDbType.BigInt, 0),
        "bit" => new(SqlDbType.Bit, 0),
        "uniqueidentifier" => new(SqlDbType.UniqueIdentifier, 0),
        "char" or "varchar" or "nchar" or "nvarchar" => ForText(key),
        _ => new(SqlDbType.VarChar, KeyTextSize),
    };

    /// <summary>
    /// The value that was read, which the guard compares byte for byte: always Unicode, so that the column is compared
    /// as the exact text the client read, whatever its code page. The guard is evaluated on the rows the key found, so
    /// its type costs a conversion per written row, never a scan.
    /// </summary>
    public static SqlServerParameterType ForOldValue(ColumnType column) =>
        new(SqlDbType.NVarChar, Length(column) is var n and > 0 and <= 4000 ? n : Max);

    /// <summary>The value to write, in the column's own type.</summary>
    public static SqlServerParameterType ForNewValue(ColumnType column) => ForText(column);

    /// <summary>
    /// Text in the column's own type and length; 8-bit text (char, varchar) only where the column's code page is the
    /// database's, which is the one the client encodes 8-bit parameters in: anywhere else it travels as Unicode, exact.
    /// </summary>
    private static SqlServerParameterType ForText(ColumnType column)
    {
        var n = Length(column);
        return column.Base switch
        {
            "char" when column.SharesDatabaseCodePage => new(SqlDbType.Char, n),
            "varchar" when column.SharesDatabaseCodePage => new(SqlDbType.VarChar, n),
            "nchar" => new(SqlDbType.NChar, n),
            _ => new(SqlDbType.NVarChar, n is > 0 and <= 4000 ? n : Max),
        };
    }

    /// <summary>The declared length ("varchar(50)" → 50), or <see cref="Max"/> for (max) or no length.</summary>
    private static int Length(ColumnType column)
    {
        var declared = column.Declared;
        int open = declared.IndexOf('('), close = declared.IndexOf(')');
        if (open < 0 || close < open) return Max;
        return int.TryParse(declared[(open + 1)..close].Split(',')[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : Max;
    }

    /// <summary>
    /// Declares the parameter with this type and gives it the value: a key's cursor text becomes the number or GUID it
    /// stands for. A text longer than the size is sent as (max): the server then refuses what does not fit, where a
    /// parameter of the column's size would have been cut by the client without a word.
    /// </summary>
    public void Apply(SqlParameter parameter, object value)
    {
        var type = this;
        object bound = value;
        if (value is string text)
        {
            if (Parse(text) is { } parsed) bound = parsed;
            else if (IsFixedScalar) type = new(SqlDbType.VarChar, KeyTextSize); // not the text of a number: the CONVERT in SQL decides
            if (bound is string && type.Size > 0 && text.Length > type.Size)
                type = new(type.Type switch { SqlDbType.Char => SqlDbType.VarChar, SqlDbType.NChar => SqlDbType.NVarChar, var t => t }, Max);
        }
        parameter.SqlDbType = type.Type;
        if (type.Size != 0) parameter.Size = type.Size;
        parameter.Value = bound;
    }

    private bool IsFixedScalar => Type is SqlDbType.TinyInt or SqlDbType.SmallInt or SqlDbType.Int or SqlDbType.BigInt or SqlDbType.Bit or SqlDbType.UniqueIdentifier;

    private object? Parse(string text)
    {
        var i = CultureInfo.InvariantCulture;
        return Type switch
        {
            SqlDbType.TinyInt => byte.TryParse(text, NumberStyles.None, i, out var b) ? b : null,
            SqlDbType.SmallInt => short.TryParse(text, NumberStyles.AllowLeadingSign, i, out var s) ? s : null,
            SqlDbType.Int => int.TryParse(text, NumberStyles.AllowLeadingSign, i, out var n) ? n : null,
            SqlDbType.BigInt => long.TryParse(text, NumberStyles.AllowLeadingSign, i, out var l) ? l : null,
            SqlDbType.Bit => text switch { "0" => false, "1" => true, _ => null },
            SqlDbType.UniqueIdentifier => Guid.TryParseExact(text, "D", out var g) ? g : null,
            _ => null,
        };
    }
}
