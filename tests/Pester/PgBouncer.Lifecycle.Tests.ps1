#Requires -Version 7.4
<#
    The whole re-encryption lifecycle through PgBouncer in transaction pooling mode (Azure's built-in pooler, most
    self-hosted ones; tests/servers/pgbouncer.sh), with every cmdlet connected to the pooler and every check made straight
    on the PostgreSQL behind it by the independent reader: -WhatIf, a paused run (-MaxRows), Get-ReencryptJob,
    Get-EncryptedColumnStatus, -Resume, Remove-UnusedEncryptionKey, Remove-ReencryptJob. A pooler in that mode rejects
    startup options and gives each transaction any server connection: nothing may rely on a session.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'PgBouncerServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:savedConnection = $env:SECRETSPS_CONNECTION_STRING
    $env:SECRETSPS_CONNECTION_STRING = $null
    $script:pg = $null
    $script:pooler = $null
    $script:pg = Start-TestPostgres
    $script:pooler = Start-TestPgBouncer -Postgres $script:pg
    if ($script:pooler.Available) {
        $script:key = New-TestRotatedKeyFile -Folder (New-TestFolder)
        $script:db = New-TestDatabase -Provider PostgreSql -Server $script:pg
        $script:plain = New-TestPlaintext 40 'pooled' -NullKeys 7, 21
        New-TestSecretTable -Database $script:db -Table usuarios -Values (New-TestStoredValue $script:plain $script:key -Version v1)
        $script:pooled = @{ Provider = 'PostgreSql'; ConnectionString = $script:pooler.Through($script:db.ConnectionString) }
        $script:target = @{ Table = 'usuarios'; Column = 'otp' }
        $script:nonNull = @($script:plain | Where-Object { $null -ne $_ }).Count
    }
}

AfterAll {
    Stop-TestPgBouncer -Server $script:pooler
    Stop-TestPostgres -Server $script:pg
    Restore-KeyEnvironment $script:savedEnvironment
    $env:SECRETSPS_CONNECTION_STRING = $script:savedConnection
}

Describe 'The lifecycle through PgBouncer in transaction mode' {
    BeforeEach {
        if (-not $pooler.Available) { Set-ItResult -Skipped -Because "PgBouncer is not available: $($pooler.Reason)" }
    }

    It 'the cmdlets really go through the pooler (its port is not the server''s)' {
        $pooled.ConnectionString | Should -Match "Port=$($pooler.Port)"
        $pooler.Port | Should -Not -Be $pg.Port
    }

    It 'Start-Reencryption -WhatIf previews every row and writes nothing (no job table, no changed row)' {
        $before = Invoke-TestSql -Database $db -Sql 'SELECT id, otp FROM usuarios ORDER BY id'
        $preview = Start-Reencryption @target @pooled -Path $key -WhatIf -ErrorAction Stop
        $preview.WouldReencrypt | Should -Be $nonNull
        Invoke-TestSql -Database $db -Sql 'SELECT id, otp FROM usuarios ORDER BY id' | Should -Be $before
        Invoke-TestSql -Database $db -Sql "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'reencrypt%'" | Should -Be '0'
    }

    It 'Get-ReencryptJob before any run returns nothing and no error' {
        @(Get-ReencryptJob @pooled -ErrorAction Stop).Count | Should -Be 0
    }

    It 'a run with -MaxRows pauses with exactly that many rows done' {
        $script:paused = Start-Reencryption @target @pooled -Path $key -MaxRows 15 -BatchSize 4 -WarningAction SilentlyContinue -ErrorAction Stop
        $paused.Status.ToString() | Should -Be 'Paused'
        $paused.Processed | Should -Be 15
        (Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $plain).ByVersion['v2'] | Should -Be 15
    }

    It 'Get-ReencryptJob lists the paused job' {
        $jobs = @(Get-ReencryptJob @pooled -ErrorAction Stop)
        $jobs.Count | Should -Be 1
        $jobs[0].Id | Should -Be $paused.Id
        $jobs[0].Status.ToString() | Should -Be 'Paused'
        (Get-ReencryptJob @pooled -Id $paused.Id -ErrorAction Stop).Processed | Should -Be 15
    }

    It 'Get-EncryptedColumnStatus counts both versions, not complete' {
        $status = Get-EncryptedColumnStatus @target @pooled -Path $key -ErrorAction Stop
        $status.RowsByVersion['v2'] | Should -Be 15
        $status.RowsByVersion['v1'] | Should -Be ($nonNull - 15)
        $status.NullRows | Should -Be 2
        $status.IsComplete | Should -BeFalse
    }

    It '-Resume finishes the same job and the independent reader finds every row at v2 with its plaintext' {
        $job = Start-Reencryption @target @pooled -Path $key -Resume -BatchSize 4 -ErrorAction Stop
        $job.Id | Should -Be $paused.Id
        $job.Status.ToString() | Should -Be 'Finished'
        $check = Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $plain -Version v2
        $check.ReaderError | Should -BeNullOrEmpty
        $check.Mismatches | Should -Be 0
        $check.Nulls | Should -Be 2
        $check.ByVersion['v2'] | Should -Be $nonNull
    }

    It 'Get-EncryptedColumnStatus then says complete' {
        (Get-EncryptedColumnStatus @target @pooled -Path $key -ErrorAction Stop).IsComplete | Should -BeTrue
    }

    It 'Remove-UnusedEncryptionKey checks the column through the pooler and removes v1; the rows still decrypt' {
        $op = Remove-UnusedEncryptionKey @target @pooled -Path $key -Keep 1 -Force -ErrorAction Stop
        $op.Outcome.ToString() | Should -Be 'Succeeded'
        @($op.Removed) | Should -Be @('v1')
        $check = Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $plain -Version v2
        $check.ReaderError | Should -BeNullOrEmpty
        $check.Mismatches | Should -Be 0
    }

    It 'Remove-ReencryptJob removes the finished job' {
        $removed = @(Remove-ReencryptJob @pooled -Id $paused.Id -Force -PassThru -ErrorAction Stop)
        $removed.Id | Should -Be $paused.Id
        @(Get-ReencryptJob @pooled -ErrorAction Stop).Count | Should -Be 0
        Invoke-TestSql -Database $db -Sql 'SELECT count(*) FROM reencrypt_jobs' | Should -Be '0'
    }

    It 'the pooler rejected nothing along the way' {
        Get-Content -LiteralPath $pooler.LogFile -Raw | Should -Not -Match 'unsupported startup parameter'
    }

    It 'an Options= the pooler rejects is DatabaseParameterRejected naming the pooler, not "cannot reach"' {
        $cs = $pooled.ConnectionString + ';Options=-c statement_timeout=0'
        $e = Get-ErrorRecord { Get-ReencryptJob -Provider PostgreSql -ConnectionString $cs -ErrorAction Stop }
        Assert-SecretsPSError $e 'DatabaseParameterRejected' 'InvalidArgument'
        $e.Exception.Message | Should -Match 'PgBouncer'
        $e.Exception.Message | Should -Not -Match 'Cannot reach'
    }
}

Describe 'Read-only commands through PgBouncer: the server refuses a write hidden behind what they read' {
    BeforeAll {
        if (-not $pooler.Available) { return }
        # A view whose every row calls a function that writes: reading it in a READ ONLY transaction fails at the server.
        $script:sneaky = New-TestDatabase -Provider PostgreSql -Server $pg
        New-TestSecretTable -Database $sneaky -Table usuarios -Values (New-TestStoredValue (New-TestPlaintext 5 'sneaky') $key -Version v2)
        $null = Invoke-TestSql -Database $sneaky -Sql @'
CREATE TABLE writes_seen (n integer);
CREATE FUNCTION write_and_return(t text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$ BEGIN INSERT INTO writes_seen VALUES (1); RETURN t; END $$;
CREATE VIEW usuarios_v AS SELECT id, write_and_return(otp) AS otp FROM usuarios;
'@
        $script:sneakyPooled = @{ Provider = 'PostgreSql'; ConnectionString = $pooler.Through($sneaky.ConnectionString) }
    }
    BeforeEach {
        if (-not $pooler.Available) { Set-ItResult -Skipped -Because "PgBouncer is not available: $($pooler.Reason)" }
    }

    It 'the view does write when read by a read-write session (the trap is real)' {
        Invoke-TestSql -Database $sneaky -Sql 'SELECT count(otp) FROM usuarios_v' | Should -Be '5'
        Invoke-TestSql -Database $sneaky -Sql 'SELECT count(*) FROM writes_seen' | Should -Be '5'
        $null = Invoke-TestSql -Database $sneaky -Sql 'DELETE FROM writes_seen'
    }

    It '<Name> fails with SQLSTATE 25006 (read-only transaction) and nothing is written' -ForEach @(
        @{ Name = 'Get-EncryptedColumnStatus'; Run = { Get-EncryptedColumnStatus -Table usuarios_v -Column otp @sneakyPooled -Path $key -ErrorAction Stop } }
        @{ Name = 'Start-Reencryption -WhatIf'; Run = { Start-Reencryption -Table usuarios_v -Column otp -KeyColumn id @sneakyPooled -Path $key -WhatIf -ErrorAction Stop } }
    ) {
        $e = Get-ErrorRecord $Run
        $e | Should -Not -BeNullOrEmpty
        (ConvertTo-TestRecordText $e) | Should -Match '25006'
        Invoke-TestSql -Database $sneaky -Sql 'SELECT count(*) FROM writes_seen' | Should -Be '0'
        Invoke-TestSql -Database $sneaky -Sql "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'reencrypt%'" | Should -Be '0'
    }
}

