# The test servers for pooled and TLS deployments: PgBouncer in transaction mode in front of a throwaway PostgreSQL
# (tests/servers/pgbouncer.sh, PgBouncerServer.psm1), and a TLS-only PostgreSQL with a CA of the test's own
# (postgres.sh tls, Start-TestPostgres -Tls). Each stops and leaves nothing behind, also when its start fails.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PgBouncerServer.psm1') -Force
    $script:pg = Start-TestPostgres
    $script:pooler = Start-TestPgBouncer -Postgres $script:pg
    $script:Script = Join-Path (Split-Path -Parent $PSScriptRoot) 'servers/pgbouncer.sh'

    function Test-Listening([int] $Port) {
        $client = [Net.Sockets.TcpClient]::new()
        try { $client.ConnectAsync('127.0.0.1', $Port).Wait(1000) -and $client.Connected } catch { $false } finally { $client.Dispose() }
    }
}

AfterAll {
    Stop-TestPgBouncer -Server $pooler
    Stop-TestPostgres -Server $pg
}

Describe 'PgBouncer for the tests' {
    BeforeEach {
        if (-not $pooler.Available) { Set-ItResult -Skipped -Because $pooler.Reason }
    }

    It 'runs in transaction pooling mode, as the service user, on its own port' {
        $ini = Get-Content -LiteralPath (Join-Path $pooler.Folder 'pgbouncer.ini') -Raw
        $ini | Should -Match '(?m)^pool_mode = transaction$'
        $ini | Should -Match "(?m)^\* = host=127\.0\.0\.1 port=$($pg.Port) user=postgres$"
        Test-Listening $pooler.Port | Should -BeTrue
        $processId = [int](Get-Content -LiteralPath (Join-Path $pooler.Folder 'pgbouncer.pid'))
        if ((& id -u) -eq '0') { (& ps -o user= -p $processId).Trim() | Should -Be 'postgres' }
    }

    It 'rejects the startup options a read-only session would need (the reason SecretsPS uses READ ONLY transactions)' {
        $out = & psql "host=127.0.0.1 port=$($pooler.Port) user=postgres dbname=postgres options=-cdefault_transaction_read_only=on" -c 'SELECT 1' 2>&1
        ($out -join "`n") | Should -Match 'unsupported startup parameter: options'
    }

    It 'stops, frees its port and leaves no folder; a second stop does nothing' {
        $other = Start-TestPgBouncer -Postgres $pg
        Test-Listening $other.Port | Should -BeTrue
        Stop-TestPgBouncer -Server $other
        Test-Listening $other.Port | Should -BeFalse
        $other.Folder | Should -Not -Exist
        { Stop-TestPgBouncer -Server $other } | Should -Not -Throw
    }

    It 'a start that fails says why, with the log, and leaves no process running' {
        $folder = Join-Path ([IO.Path]::GetTempPath()) ('secretsps-pgbouncer-bad-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
        try {
            $out = & bash $Script start $folder $pg.Port auto 'pool_mode=no_such_mode' 2>&1
            $LASTEXITCODE | Should -Not -Be 0
            ($out -join "`n") | Should -Match 'PgBouncer did not start'
            $pidFile = Join-Path $folder 'pgbouncer.pid'
            if (Test-Path -LiteralPath $pidFile) {
                $stale = [int](Get-Content -LiteralPath $pidFile)
                Get-Process -Id $stale -ErrorAction Ignore | Should -BeNullOrEmpty
            }
        } finally {
            & bash $Script stop $folder | Out-Null
            Remove-Item -LiteralPath $folder -Recurse -Force -ErrorAction Ignore
        }
    }
}

Describe 'A TLS-only PostgreSQL for the tests' {
    BeforeAll {
        $script:tls = $null
        if ($pg.Available) { $script:tls = Start-TestPostgres -Tls }
    }
    AfterAll {
        Stop-TestPostgres -Server $script:tls
    }
    BeforeEach {
        if (-not $pg.Available) { Set-ItResult -Skipped -Because $pg.Reason }
    }

    It 'serves TLS with a certificate for localhost and 127.0.0.1 signed by its own CA, not by the other one' {
        $text = & openssl x509 -in (Join-Path $tls.Folder 'tls/server.crt') -noout -text
        ($text -join "`n") | Should -Match 'DNS:localhost, IP Address:127\.0\.0\.1'
        & openssl verify -CAfile $tls.CaCertificate (Join-Path $tls.Folder 'tls/server.crt') | Should -Match ': OK$'
        & openssl verify -CAfile $tls.OtherCaCertificate (Join-Path $tls.Folder 'tls/server.crt') 2>&1 | Out-Null
        $LASTEXITCODE | Should -Not -Be 0
        Invoke-TestPsql -Server $tls -Sql 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()' | Should -Be 't'
    }

    It 'refuses TCP connections without TLS' {
        $out = & psql "host=127.0.0.1 port=$($tls.Port) user=postgres dbname=postgres sslmode=disable" -c 'SELECT 1' 2>&1
        ($out -join "`n") | Should -Match 'no pg_hba.conf entry.*no encryption'
    }

    It 'signs a role in with a 900-character password over scram, and refuses another' {
        $token = -join (1..900 | ForEach-Object { [char](Get-Random -Minimum 65 -Maximum 91) })
        $db = New-TestPostgresDatabase -Server $tls
        New-TestPostgresRole -Server $tls -Name 'long_token' -Password $token -Database $db
        $env:PGPASSWORD = $token
        try {
            & psql "host=localhost port=$($tls.Port) user=long_token dbname=postgres sslmode=verify-full sslrootcert=$($tls.CaCertificate)" -Atc 'SELECT current_user' | Should -Be 'long_token'
            $env:PGPASSWORD = $token.Substring(1) + 'A'
            $out = & psql "host=localhost port=$($tls.Port) user=long_token dbname=postgres sslmode=verify-full sslrootcert=$($tls.CaCertificate)" -Atc 'SELECT 1' 2>&1
            ($out -join "`n") | Should -Match 'password authentication failed'
        } finally {
            Remove-Item Env:PGPASSWORD -ErrorAction Ignore
        }
        Invoke-TestPsql -Server $tls -Sql "SELECT rolpassword LIKE 'SCRAM-SHA-256%' FROM pg_authid WHERE rolname = 'long_token'" | Should -Be 't'
    }
}
