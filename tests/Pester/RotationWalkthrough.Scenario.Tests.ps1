#Requires -Version 7.4
<#
    The rotation walk-through, end to end on SQLite, PostgreSQL and MariaDB, as an operator runs it:
    rotate (Invoke-KeyRotation) → re-encrypt (Start-Reencryption) → prove it complete (Get-EncryptedColumnStatus)
    → clean up (Remove-UnusedEncryptionKey) → and the application's own, independent reader
    (tests/interop/secretsps_ref.py) still reads every row. No log, journal line or stream holds key material.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'MariaDbServer.psm1')
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:SavedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:SavedConnection = $env:SECRETSPS_CONNECTION_STRING
    Remove-Item Env:SECRETSPS_CONNECTION_STRING -ErrorAction Ignore
    $script:Pg = Start-TestPostgres
    $script:My = $null
    $script:My = Start-TestMariaDb
    . (Join-Path $PSScriptRoot 'CleanupFixtures.ps1')
    function Invoke-Step {
        # Runs one step with -Verbose streams merged; keeps their text for the no-secrets check; returns the output objects.
        param([hashtable] $State, [scriptblock] $Step)
        $records = @(& $Step *>&1)
        $State.Streams.Add((ConvertTo-StreamText $records))
        $records | Where-Object {
            $_ -isnot [Management.Automation.ErrorRecord] -and $_ -isnot [Management.Automation.InformationalRecord] -and $_ -isnot [Management.Automation.InformationRecord]
        }
    }

    function Skip-WithoutDatabase {
        param([AllowNull()] $Database)
        if ($null -eq $Database) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($script:Pg.Reason)" }
    }
}

AfterAll {
    Stop-TestPostgres -Server $script:Pg
    Stop-TestMariaDb -Server $script:My
    Restore-KeyEnvironment $script:SavedEnvironment
    if ($script:SavedConnection) { $env:SECRETSPS_CONNECTION_STRING = $script:SavedConnection }
}

Describe 'Rotation walk-through on <Provider>: rotate, re-encrypt, status complete, cleanup' -ForEach @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' }, @{ Provider = 'MySql' }) {
    BeforeAll {
        $folder = New-TestFolder
        $db = New-CleanupDatabase -Provider $Provider -Folder $folder
        $s = @{ Streams = [Collections.Generic.List[string]]::new() }
        if ($db) {
            $key = New-TestKeyFile -Folder $folder -Version v1
            $log = Join-Path $folder 'walkthrough.log'
            $dbArgs = @{ Provider = $db.Provider; ConnectionString = $db.ConnectionString; LogFile = $log }
            $tag = [guid]::NewGuid().ToString('N').Substring(0, 6)
            # What the application stored under v1: 40 secrets and two NULLs.
            $plain = @(1..40 | ForEach-Object { "otp-$_-ção-walk-$tag" }) + @($null, $null)
            $stored = @($plain[0..39] | Protect-EncryptedValue -Path $key) + @($null, $null)
            New-CleanupTable -Database $db -Table users -Values $stored
        }
    }

    It 'before the rotation, the application reads every row, each under v1' {
        Skip-WithoutDatabase $db
        $read = Read-WithApplication -Database $db -KeyFile $key -Table users -ExpectVersion v1
        $read | Should -Be $plain
    }

    It 'rotate: Invoke-KeyRotation adds v2 and makes it active; the column is not complete yet' {
        Skip-WithoutDatabase $db
        $null = Invoke-Step $s { Invoke-KeyRotation -Path $key -Force -LogFile $log -Verbose }
        (Get-EncryptionKey -Path $key | Where-Object IsActive).Version | Should -Be 'v2'
        $status = Invoke-Step $s { Get-EncryptedColumnStatus -Path $key -Table users -Column otp @dbArgs -Verbose }
        $status.IsComplete | Should -BeFalse
        $status.RowsByVersion['v1'] | Should -Be 40
        $status.AtActiveVersion | Should -Be 0
        $status.NullRows | Should -Be 2
        $read = Read-WithApplication -Database $db -KeyFile $key -Table users -ExpectVersion v1
        $read | Should -Be $plain
    }

    It 'a cleanup before the re-encryption keeps v1, because every row still uses it, and changes nothing' {
        Skip-WithoutDatabase $db
        $hash = Get-FileHashString $key
        $op = Invoke-Step $s { Remove-UnusedEncryptionKey -Path $key -Table users -Column otp -Keep 1 -Force @dbArgs -Verbose }
        $op.Outcome.ToString() | Should -Be 'NothingToRemove'
        ($op.Kept | Where-Object Version -EQ 'v1').Reason | Should -Match 'still used by 40 row\(s\) of users\.otp'
        Get-FileHashString $key | Should -Be $hash
    }

    It 're-encrypt: Start-Reencryption moves every value to v2' {
        Skip-WithoutDatabase $db
        $job = Invoke-Step $s { Start-Reencryption -Path $key -Table users -Column otp -BatchSize 16 -CommitEvery 16 @dbArgs -Verbose }
        $job.Status.ToString() | Should -Be 'Finished'
        $job.TargetVersion | Should -Be 'v2'
        $job.Processed | Should -Be 40
        $job.Errors | Should -Be 0
    }

    It 'status: complete — every non-NULL value is at v2, the NULLs stay NULL' {
        Skip-WithoutDatabase $db
        $status = Invoke-Step $s { Get-EncryptedColumnStatus -Path $key -Table users -Column otp @dbArgs -Verbose }
        $status.IsComplete | Should -BeTrue
        $status.AtActiveVersion | Should -Be 40
        @($status.RowsByVersion.Keys) | Should -Be @('v2')
        $status.NullRows | Should -Be 2
        $status.NotCiphertext | Should -Be 0
    }

    It 'cleanup: the status piped to Remove-UnusedEncryptionKey removes v1, after a backup' {
        Skip-WithoutDatabase $db
        $s.Before = [IO.File]::ReadAllBytes($key)
        $op = Invoke-Step $s {
            Get-EncryptedColumnStatus -Path $key -Table users -Column otp @dbArgs |
                Remove-UnusedEncryptionKey -Path $key -Keep 1 -Force @dbArgs -Verbose
        }
        $s.Operation = $op
        $op.Outcome.ToString() | Should -Be 'Succeeded'
        @($op.Removed) | Should -Be @('v1')
        [IO.File]::ReadAllBytes($op.BackupPath) | Should -Be $s.Before
        (Get-EncryptionKey -Path $key).Version | Should -Be @('v2')
        Test-EncryptionConfig -Path $key | Should -BeTrue
    }

    It 'the application''s independent reader still reads every row, each under v2' {
        Skip-WithoutDatabase $db
        $read = Read-WithApplication -Database $db -KeyFile $key -Table users -ExpectVersion v2
        $read | Should -Be $plain
    }

    It 'Get-KeyCleanupOperation reads both cleanups back from the journal' {
        Skip-WithoutDatabase $db
        $ops = @(Get-KeyCleanupOperation -Path $key -Last 2)
        $ops.Outcome.ForEach({ $_.ToString() }) | Should -Be @('NothingToRemove', 'Succeeded')
        $ops[-1].OperationId | Should -Be $s.Operation.OperationId
        (Get-KeyCleanupOperation -Path $key -OperationId $s.Operation.OperationId).Removed | Should -Be @('v1')
    }

    It 'the log has the [CLEANUP-AUDIT] and [CLEANUP-SUMMARY] lines of both cleanups' {
        Skip-WithoutDatabase $db
        $lines = @(Get-Content -LiteralPath $log)
        $lines | ForEach-Object { $_ | Should -Match '^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} - SecretsPS\.Commands\.[A-Za-z]+ - (DEBUG|INFO|WARNING|ERROR) - \S' }
        @($lines | Where-Object { $_ -match ' - SecretsPS\.Commands\.RemoveUnusedEncryptionKey - (INFO|ERROR) - \[CLEANUP-SUMMARY\] ' }).Count | Should -Be 2
        $lines | Where-Object { $_ -match "\[CLEANUP-AUDIT\] Operation started - ID: $($s.Operation.OperationId)" } | Should -HaveCount 1
    }

    It 'no log line, journal line or stream holds key material (the removed v1''s included) or a plaintext' {
        Skip-WithoutDatabase $db
        @(Get-BackupFiles -Path $key | ForEach-Object { Get-KeyMaterial -Path $_.FullName } | Where-Object Version -EQ 'v1').Count | Should -BeGreaterThan 0
        $secrets = @($plain | Where-Object { $_ })
        Assert-NoKeyMaterial -Text (Get-Content -Raw -LiteralPath $log) -KeyFile $key -Plaintexts $secrets -Where 'the -LogFile'
        Assert-NoKeyMaterial -Text (Get-Content -Raw -LiteralPath "$key.audit.jsonl") -KeyFile $key -Plaintexts $secrets -Where 'the journal'
        Assert-NoKeyMaterial -Text ($s.Streams -join "`n") -KeyFile $key -Plaintexts $secrets -Where 'the streams of every step'
    }
}
