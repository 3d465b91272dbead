# The throwaway PostgreSQL helper for the Pester suite: it starts, makes separate databases, psql reads them back,
# and a restart keeps port and data. Skipped (not failed) where the machine has no PostgreSQL binaries.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1') -Force
    $script:pg = Start-TestPostgres
    if ($pg.Available) {
        Write-Host "PostgreSQL $($pg.MajorVersion) from $($pg.BinFolder) on port $($pg.Port): initdb $($pg.InitDbMs) ms, start $($pg.StartMs) ms"
    }
}

AfterAll {
    $clock = [Diagnostics.Stopwatch]::StartNew()
    Stop-TestPostgres -Server $pg
    Write-Host "stop + remove folder $([int]$clock.Elapsed.TotalMilliseconds) ms"
    if ($pg.Folder) { $pg.Folder | Should -Not -Exist }
}

Describe 'Throwaway PostgreSQL' {
    BeforeEach {
        if (-not $pg.Available) { Set-ItResult -Skipped -Because $pg.Reason }
    }

    It 'Creates separate databases and reads rows back with psql' {
        (Invoke-TestPsql -Server $pg -Sql 'SELECT version()') | Should -BeLike "PostgreSQL $($pg.MajorVersion)*"

        $first = New-TestPostgresDatabase -Server $pg
        $second = $pg.NewDatabase()
        $first | Should -Match "^Host=127\.0\.0\.1;Port=$($pg.Port);Username=postgres;Database=test_[0-9a-f]{32}$"
        $second | Should -Not -Be $first

        Invoke-TestPsql -Server $pg -Database $first -Sql "CREATE TABLE t (id int, value text); INSERT INTO t VALUES (1, 'São ✓'), (2, NULL), (3, '')" |
            Should -BeNullOrEmpty
        $rows = @(Invoke-TestPsql -Server $pg -Database $first -Sql 'SELECT id, value FROM t ORDER BY id')
        $rows | Should -Be @('1|São ✓', '2|\N', '3|')
        Invoke-TestPsql -Server $pg -Database $second -Sql "SELECT to_regclass('t') IS NULL" | Should -Be 't'
        { Invoke-TestPsql -Server $pg -Database $second -Sql 'SELECT * FROM t' } | Should -Throw '*relation "t" does not exist*'
    }

    It 'Keeps port and data across a stop and a restart' {
        $db = New-TestPostgresDatabase -Server $pg -Name 'restart_check'
        Invoke-TestPsql -Server $pg -Database $db -Sql "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')"
        $port = $pg.Port

        $clock = [Diagnostics.Stopwatch]::StartNew()
        Stop-TestPostgres -Server $pg -KeepFolder
        $stopMs = [int]$clock.Elapsed.TotalMilliseconds
        try {
            { Invoke-TestPsql -Server $pg -Database $db -Sql 'SELECT 1' } | Should -Throw
        } finally {
            $clock.Restart()
            Restart-TestPostgres -Server $pg
        }
        Write-Host "stop $stopMs ms, start again $([int]$clock.Elapsed.TotalMilliseconds) ms"

        $pg.Port | Should -Be $port
        Invoke-TestPsql -Server $pg -Database $db -Sql 'SELECT v FROM t' | Should -Be 'kept'
    }
}
