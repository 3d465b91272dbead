using System.Security.Cryptography;

namespace SecretsPS.Core.Crypto;

/// <summary>
/// Random IVs handed out from a per-thread buffer that the system's CSPRNG fills 4 KiB at a time; each byte
/// is handed out once.
/// </summary>
/// <remarks>
/// One <c>RandomNumberGenerator.Fill</c> per value cost more than the AES and the HMAC together: OpenSSL 3's
/// RAND_bytes makes a system call (getpid, to detect a fork) on every call (bench/RESULTS.md). IVs are public
/// (every token carries its own), so holding the next ones in memory reveals nothing.
/// </remarks>
internal static class IvSource
{
    private const int PoolSize = 4096;

    // Per thread, so that the runspaces of ForEach-Object -Parallel never share a pool and no lock is needed.
    [ThreadStatic] private static byte[]? t_pool;
    [ThreadStatic] private static int t_next;

    public static void Fill(Span<byte> iv)
    {
        if (iv.Length > PoolSize)
        {
            RandomNumberGenerator.Fill(iv);
            return;
        }

        var pool = t_pool;
        if (pool is null || t_next + iv.Length > pool.Length)
        {
            pool = t_pool ??= new byte[PoolSize];
            RandomNumberGenerator.Fill(pool);
            t_next = 0;
        }

        pool.AsSpan(t_next, iv.Length).CopyTo(iv);
        t_next += iv.Length;
    }
}
