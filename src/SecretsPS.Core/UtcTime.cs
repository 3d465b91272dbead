namespace SecretsPS.Core;

/// <summary>
/// Times on output objects are UTC with their offset (+00:00): a DateTimeOffset keeps the zone in a CSV cell and in a
/// string, where a DateTime prints without one. A DateTime of unspecified kind here is UTC (how the job table stores it).
/// </summary>
public static class UtcTime
{
    public static DateTimeOffset From(DateTime time) =>
        new(time.Kind switch
        {
            DateTimeKind.Utc => time,
            DateTimeKind.Local => time.ToUniversalTime(),
            _ => DateTime.SpecifyKind(time, DateTimeKind.Utc),
        });

    public static DateTimeOffset? From(DateTime? time) => time is { } t ? From(t) : null;

    public static DateTimeOffset From(DateTimeOffset time) => time.ToUniversalTime();

    public static DateTimeOffset? From(DateTimeOffset? time) => time?.ToUniversalTime();
}
