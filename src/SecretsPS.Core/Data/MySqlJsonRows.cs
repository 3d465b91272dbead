using System.Buffers;
using System.Text;

namespace SecretsPS.Core.Data;

/// <summary>
/// A chunk of guarded updates as the UTF-8 bytes of a JSON array of [key text, value read, new value], the parameter of
/// MySqlDialect's JSON_TABLE statements. Written into one buffer per thread that is reused from chunk to chunk: a chunk
/// is a few hundred kilobytes, and a new string or array of that size per chunk went to the large-object heap and cost
/// a full garbage collection every few chunks.
/// </summary>
internal static class MySqlJsonRows
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? _buffer;

    /// <summary>Printable ASCII except the quote and the backslash: copied as they are.</summary>
    private static readonly SearchValues<char> Plain =
        SearchValues.Create(" !#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    /// <summary>The bytes stay valid until this thread writes the next chunk.</summary>
    public static ReadOnlyMemory<byte> Write(ISqlDialect dialect, IReadOnlyList<RowUpdate> rows, int start, int count)
    {
        var buffer = _buffer ??= new ArrayBufferWriter<byte>(64 * 1024);
        buffer.ResetWrittenCount();
        Put(buffer, '[');
        for (int i = 0; i < count; i++)
        {
            var row = rows[start + i];
            if (i > 0) Put(buffer, ',');
            Put(buffer, '[');
            AppendString(buffer, dialect.CursorText(row.Key));
            Put(buffer, ',');
            AppendString(buffer, row.OldValue);
            Put(buffer, ',');
            AppendString(buffer, row.NewValue);
            Put(buffer, ']');
        }
        Put(buffer, ']');
        return buffer.WrittenMemory;
    }

    /// <summary>A JSON string: the quote, the backslash and control characters escaped, everything else as UTF-8.</summary>
    internal static void AppendString(ArrayBufferWriter<byte> buffer, string value)
    {
        Put(buffer, '"');
        var rest = value.AsSpan();
        while (rest.Length > 0)
        {
            int plain = rest.IndexOfAnyExcept(Plain);
            if (plain < 0) plain = rest.Length;
            if (plain > 0)
            {
                Utf8(buffer, rest[..plain]);
                rest = rest[plain..];
                continue;
            }
            char c = rest[0];
            if (c is '"' or '\\')
            {
                Put(buffer, '\\');
                Put(buffer, c);
                rest = rest[1..];
            }
            else if (c < 0x80)
            {
                // Control characters and DEL as \u00XX.
                var span = buffer.GetSpan(6);
                span[0] = (byte)'\\';
                span[1] = (byte)'u';
                span[2] = (byte)'0';
                span[3] = (byte)'0';
                span[4] = (byte)HexDigits[c >> 4];
                span[5] = (byte)HexDigits[c & 0xF];
                buffer.Advance(6);
                rest = rest[1..];
            }
            else
            {
                // A run of non-ASCII characters at once, so a surrogate pair is never split.
                int run = rest.IndexOfAnyInRange('\0', '\x7F');
                if (run < 0) run = rest.Length;
                Utf8(buffer, rest[..run]);
                rest = rest[run..];
            }
        }
        Put(buffer, '"');
    }

    private const string HexDigits = "0123456789ABCDEF";

    private static void Put(ArrayBufferWriter<byte> buffer, char c)
    {
        buffer.GetSpan(1)[0] = (byte)c;
        buffer.Advance(1);
    }

    private static void Utf8(ArrayBufferWriter<byte> buffer, ReadOnlySpan<char> text)
    {
        var span = buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        buffer.Advance(Encoding.UTF8.GetBytes(text, span));
    }
}
