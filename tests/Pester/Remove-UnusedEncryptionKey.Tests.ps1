#Requires -Version 7.4
<#
    Remove-UnusedEncryptionKey (the original Flask CLI's cleanup-keys) on SQLite, PostgreSQL and MariaDB: a version that rows still use is
    kept and reported, an unused one is removed, the active one never; -WhatIf changes nothing; a failure after the
    write (a named target whose rows use a candidate, with -SkipUsageCheck -Force, so the sample decryption with the
    new file fails) is rolled back to a byte-identical file with a Rollback audit line; the -LogFile has one
    [CLEANUP-AUDIT] line per step and one [CLEANUP-SUMMARY] (FORMATS.md §6); nothing holds key material.
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
    $script:LogLine = '^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} - SecretsPS\.Commands\.RemoveUnusedEncryptionKey - (DEBUG|INFO|WARNING|ERROR) - \S.*$'
    $script:OperationIdPattern = '^cleanup_\d{8}_\d{6}_[0-9a-f]{4}$'

    function New-KeyFileWithVersions {
        # New-EncryptionConfig with the first version, Invoke-KeyRotation to each other one: the last is active.
        param([string] $Folder, [string[]] $Versions)
        $key = New-TestKeyFile -Folder $Folder -Version $Versions[0]
        foreach ($v in @($Versions | Select-Object -Skip 1)) { $null = Invoke-KeyRotation -Path $key -NewVersion $v -Force -WarningAction SilentlyContinue }
        $key
    }

    $script:SharedDb = @{}
    function Get-SharedDatabase {
        # One database per provider for this file (a fresh PostgreSQL database costs time); each fixture has its own table.
        param([string] $Provider)
        if (-not $script:SharedDb.ContainsKey($Provider)) {
            $db = New-CleanupDatabase -Provider $Provider -Folder (New-TestFolder)
            # Create the SQLite file now: a file first made inside a Context is deleted (with TestDrive's other new files) when it ends.
            if ($db -and $Provider -eq 'Sqlite') { $null = Invoke-CleanupSql -Database $db -Sql 'CREATE TABLE fixture_created (id INTEGER)' }
            $script:SharedDb[$Provider] = $db
        }
        $script:SharedDb[$Provider]
    }

    function New-CleanupFixture {
        <#
            A key file v1..v4 (v4 active) and a new table: rows 1-3 under v1, rows 4-5 under v4, row 6 NULL.
            Returns { Folder; Key; Db; Table; Plain (the plaintexts of rows 1..6) }, or $null without the database.
        #>
        param([string] $Provider, [string[]] $Versions = @('v1', 'v2', 'v3', 'v4'))
        # A database of its own: the discovery beyond the named targets would find the other fixtures' tables (same version names).
        $folder = New-TestFolder
        $db = New-CleanupDatabase -Provider $Provider -Folder $folder
        if ($null -eq $db) { return $null }
        $table = 't_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $key = New-KeyFileWithVersions -Folder $folder -Versions $Versions
        $plain = @(1..5 | ForEach-Object { "otp-$_-ção-secret-$([guid]::NewGuid().ToString('N').Substring(0, 6))" })
        $values = @($plain[0..2] | Protect-EncryptedValue -Path $key -Version $Versions[0]) + @($plain[3..4] | Protect-EncryptedValue -Path $key -Version $Versions[-1]) + @($null)
        New-CleanupTable -Database $db -Table $table -Values $values
        [pscustomobject]@{ Folder = $folder; Key = $key; Db = $db; Table = $table; Plain = @($plain + @($null)) }
    }

    function Skip-WithoutDatabase {
        param([AllowNull()] $Fixture)
        if ($null -eq $Fixture) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($script:Pg.Reason)" }
    }
}

AfterAll {
    Stop-TestPostgres -Server $script:Pg
    Stop-TestMariaDb -Server $script:My
    Restore-KeyEnvironment $script:SavedEnvironment
    if ($script:SavedConnection) { $env:SECRETSPS_CONNECTION_STRING = $script:SavedConnection }
}

Describe 'Remove-UnusedEncryptionKey on <Provider>' -ForEach @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' }, @{ Provider = 'MySql' }) {
    BeforeAll {
        # Here, not in a Context: TestDrive files made in a Context are removed when it ends.
        $null = Get-SharedDatabase -Provider $Provider
    }

    Context 'a version still used by rows, unused older ones, the active one' {
        BeforeAll {
            $f = New-CleanupFixture -Provider $Provider
            if ($f) {
                $before = [IO.File]::ReadAllBytes($f.Key)
                $log = Join-Path $f.Folder 'cleanup.log'
                $op = Remove-UnusedEncryptionKey -Path $f.Key -Table $f.Table -Column otp -Keep 1 -Force -LogFile $log -Provider $f.Db.Provider -ConnectionString $f.Db.ConnectionString
            }
        }

        It 'keeps v1, which rows still use, and says why and how many rows' {
            Skip-WithoutDatabase $f
            $op.Outcome.ToString() | Should -Be 'Succeeded'
            $kept = @($op.Kept | Where-Object Version -EQ 'v1')
            $kept.Count | Should -Be 1
            $kept[0].Reason | Should -Match "still used by 3 row\(s\) of $($f.Table)\.otp"
            $kept[0].Reason | Should -Match 'Start-Reencryption'
            $op.Targets.Count | Should -Be 1
            $op.Targets[0].RowsByVersion['v1'] | Should -Be 3
            $op.Targets[0].RowsByVersion['v4'] | Should -Be 2
        }

        It 'removes the unused older versions v2 and v3 and nothing else' {
            Skip-WithoutDatabase $f
            @($op.Removed | Sort-Object) | Should -Be @('v2', 'v3')
            $op.RemovedCount | Should -Be 2
            (Get-EncryptionKey -Path $f.Key).Version | Should -Be @('v1', 'v4')
            Get-Content -LiteralPath $f.Key | Where-Object { $_ -match '__v[23]=' } | Should -BeNullOrEmpty
            Test-EncryptionConfig -Path $f.Key | Should -BeTrue
        }

        It 'keeps the active version v4' {
            Skip-WithoutDatabase $f
            ($op.Kept | Where-Object Version -EQ 'v4').Reason | Should -Be 'the active version'
            (Get-EncryptionKey -Path $f.Key | Where-Object IsActive).Version | Should -Be 'v4'
        }

        It 'made a byte-for-byte backup first' {
            Skip-WithoutDatabase $f
            $op.BackupPath | Should -Match '\.env\.crypto\.backup_\d{8}_\d{6}(_\d+)?$'
            [IO.File]::ReadAllBytes($op.BackupPath) | Should -Be $before
            Get-TestFileMode -Path $op.BackupPath | Should -Be '600'
        }

        It 'leaves every row readable by the application''s own reader' {
            Skip-WithoutDatabase $f
            $read = Read-WithApplication -Database $f.Db -KeyFile $f.Key -Table $f.Table
            $read | Should -Be $f.Plain
        }

        It 'writes one [CLEANUP-AUDIT] line per step and one [CLEANUP-SUMMARY], each in the FORMATS.md §6 line format' {
            Skip-WithoutDatabase $f
            $op.OperationId | Should -Match $script:OperationIdPattern
            $lines = @(Get-Content -LiteralPath $log)
            $lines | ForEach-Object { $_ | Should -Match $script:LogLine }
            $audit = @($lines | Where-Object { $_ -match ' - \[CLEANUP-AUDIT\] ' })
            $audit.Count | Should -Be $op.Steps.Count
            $audit[0] | Should -Match " - INFO - \[CLEANUP-AUDIT\] Operation started - ID: $($op.OperationId)"
            $lines | Where-Object { $_ -match " - WARNING - \[CLEANUP-AUDIT\] Version v1 kept: 3 row\(s\) of $($f.Table)\.otp still use it`$" } | Should -HaveCount 1
            foreach ($step in 'Backup created', 'Key file written without', 'passed validation', 'sampled value\(s\) decrypt with the new key file') {
                $audit | Where-Object { $_ -match $step } | Should -Not -BeNullOrEmpty -Because "the $step step is audited"
            }
            $summary = @($lines | Where-Object { $_ -match '\[CLEANUP-SUMMARY\]' })
            $summary.Count | Should -Be 1
            $summary[0] | Should -Match " - INFO - \[CLEANUP-SUMMARY\] ID: $($op.OperationId) \| outcome: Succeeded \| removed: (v3, v2|v2, v3) \| kept: "
        }

        It 'appends the operation to the key file''s .audit.jsonl (mode 600), readable by its id' {
            Skip-WithoutDatabase $f
            Get-TestFileMode -Path "$($f.Key).audit.jsonl" | Should -Be '600'
            $journal = @(Get-JournalLines $f.Key)
            $journal.Count | Should -Be 1
            $journal[0].operationId | Should -Be $op.OperationId
            $journal[0].outcome | Should -Be 'Succeeded'
            (Get-KeyCleanupOperation -Path $f.Key -OperationId $op.OperationId).Removed | Sort-Object | Should -Be @('v2', 'v3')
        }
    }

    Context 'the active version is the oldest' {
        It 'is never a candidate: only the unused middle version goes' {
            $f = New-CleanupFixture -Provider $Provider -Versions 'v1', 'v2', 'v3'
            Skip-WithoutDatabase $f
            Set-ActiveEncryptionKey -Path $f.Key -Version v1 -Force
            # Every row at v1 and v3 now; v1 is active and the oldest.
            $op = Remove-UnusedEncryptionKey -Path $f.Key -Table $f.Table -Column otp -Keep 1 -Force -Provider $f.Db.Provider -ConnectionString $f.Db.ConnectionString
            $op.Candidates | Should -Not -Contain 'v1'
            @($op.Removed) | Should -Be @('v2')
            ($op.Kept | Where-Object Version -EQ 'v1').Reason | Should -Be 'the active version'
            (Get-EncryptionKey -Path $f.Key | Where-Object IsActive).Version | Should -Be 'v1'
            (Read-WithApplication -Database $f.Db -KeyFile $f.Key -Table $f.Table) | Should -Be $f.Plain
        }
    }

    Context '-WhatIf' {
        It 'changes nothing: same key file hash, no backup, no journal line, and reports what it would remove' {
            $f = New-CleanupFixture -Provider $Provider
            Skip-WithoutDatabase $f
            $hashBefore = Get-FileHashString $f.Key
            $backupsBefore = @(Get-BackupFiles -Path $f.Key).Count
            $op = Remove-UnusedEncryptionKey -Path $f.Key -Table $f.Table -Column otp -Keep 1 -WhatIf -Provider $f.Db.Provider -ConnectionString $f.Db.ConnectionString
            $op.Outcome.ToString() | Should -Be 'NotConfirmed'
            @($op.Removed).Count | Should -Be 0
            $op.Message | Should -Match 'Would remove (v3, v2|v2, v3)'
            Get-FileHashString $f.Key | Should -Be $hashBefore
            @(Get-BackupFiles -Path $f.Key).Count | Should -Be $backupsBefore
            Test-Path -LiteralPath "$($f.Key).audit.jsonl" | Should -BeFalse
        }

        It 'writes no journal line either when nothing is removable' {
            $f = New-CleanupFixture -Provider $Provider -Versions 'v1', 'v2'
            Skip-WithoutDatabase $f
            # v1 is the only candidate and rows use it: nothing to remove, and -WhatIf must still leave no trace.
            $op = Remove-UnusedEncryptionKey -Path $f.Key -Table $f.Table -Column otp -Keep 1 -WhatIf -Provider $f.Db.Provider -ConnectionString $f.Db.ConnectionString
            $op.Outcome.ToString() | Should -Be 'NothingToRemove'
            Test-Path -LiteralPath "$($f.Key).audit.jsonl" | Should -BeFalse -Because '-WhatIf changes nothing, the journal included'
        }
    }

    Context 'a failure after the write' {
        BeforeAll {
            $f = New-CleanupFixture -Provider $Provider -Versions 'v1', 'v2'
            if ($f) {
                $before = [IO.File]::ReadAllBytes($f.Key)
                $backupsBefore = @(Get-BackupFiles -Path $f.Key | ForEach-Object FullName)
                $log = Join-Path $f.Folder 'rollback.log'
                # Rows 1-3 use v1; -SkipUsageCheck -Force let v1 reach the write, and the sample decryption with the new file fails.
                $records = @(Remove-UnusedEncryptionKey -Path $f.Key -Table $f.Table -Column otp -Keep 1 -SkipUsageCheck -Force -LogFile $log -Verbose -Provider $f.Db.Provider -ConnectionString $f.Db.ConnectionString -ErrorVariable rollbackErrors -ErrorAction SilentlyContinue *>&1)
                $op = @($records | Where-Object { $_.GetType().FullName -eq 'SecretsPS.Core.Audit.KeyCleanupOperation' })[0]
            }
        }

        It 'is rolled back: the key file is byte-identical to what it was' {
            Skip-WithoutDatabase $f
            $op.Outcome.ToString() | Should -Be 'RolledBack'
            @($op.Removed).Count | Should -Be 0
            [IO.File]::ReadAllBytes($f.Key) | Should -Be $before
            (Get-EncryptionKey -Path $f.Key).Version | Should -Be @('v1', 'v2')
        }

        It 'reports a non-terminating CleanupRolledBack error naming the operation and the backup' {
            Skip-WithoutDatabase $f
            $rollbackErrors.Count | Should -Be 1
            Assert-SecretsPSError $rollbackErrors[0] 'CleanupRolledBack' 'InvalidData'
            $rollbackErrors[0].Exception.Message | Should -Match ([regex]::Escape($op.OperationId))
            $rollbackErrors[0].Exception.Message | Should -Match 'SampleDecryptFailed'
        }

        It 'kept the byte-for-byte backup it made before the write' {
            Skip-WithoutDatabase $f
            $op.BackupPath | Should -Not -BeNullOrEmpty
            $backupsBefore | Should -Not -Contain $op.BackupPath
            [IO.File]::ReadAllBytes($op.BackupPath) | Should -Be $before
        }

        It 'logs the failed check and a Rollback [CLEANUP-AUDIT] line, then an ERROR summary' {
            Skip-WithoutDatabase $f
            $lines = @(Get-Content -LiteralPath $log)
            $lines | ForEach-Object { $_ | Should -Match $script:LogLine }
            $lines | Where-Object { $_ -match ' - WARNING - \[CLEANUP-AUDIT\] Usage check skipped' } | Should -HaveCount 1
            $lines | Where-Object { $_ -match ' - ERROR - \[CLEANUP-AUDIT\] The new key file failed its checks: SampleDecryptFailed' } | Should -HaveCount 1
            $lines | Where-Object { $_ -match ' - INFO - \[CLEANUP-AUDIT\] Rollback: the key file was restored from .+, byte for byte$' } | Should -HaveCount 1
            $summary = @($lines | Where-Object { $_ -match '\[CLEANUP-SUMMARY\]' })
            $summary.Count | Should -Be 1
            $summary[0] | Should -Match " - ERROR - \[CLEANUP-SUMMARY\] ID: $($op.OperationId) \| outcome: RolledBack \| removed: none \|"
        }

        It 'records the rolled-back operation in the journal with its Rollback step' {
            Skip-WithoutDatabase $f
            $entry = Get-KeyCleanupOperation -Path $f.Key -OperationId $op.OperationId
            $entry.Outcome.ToString() | Should -Be 'RolledBack'
            $entry.Steps.Step | Should -Contain 'Rollback'
            $entry.Steps[-1].Step | Should -Be 'Rollback'
        }

        It 'leaves every row readable with the restored file' {
            Skip-WithoutDatabase $f
            (Read-WithApplication -Database $f.Db -KeyFile $f.Key -Table $f.Table) | Should -Be $f.Plain
        }

        It 'puts no key material or plaintext in the log, the journal or any stream' {
            Skip-WithoutDatabase $f
            $streams = ConvertTo-StreamText (@($records) + @($rollbackErrors))
            $streams | Should -Match 'CLEANUP-AUDIT' -Because 'the verbose stream was captured'
            Assert-NoKeyMaterial -Text (Get-Content -Raw -LiteralPath $log) -KeyFile $f.Key -Plaintexts $f.Plain -Where 'the -LogFile'
            Assert-NoKeyMaterial -Text (Get-Content -Raw -LiteralPath "$($f.Key).audit.jsonl") -KeyFile $f.Key -Plaintexts $f.Plain -Where 'the journal'
            Assert-NoKeyMaterial -Text $streams -KeyFile $f.Key -Plaintexts $f.Plain -Where 'the output, verbose, warning and error streams'
        }
    }

    Context 'secrets' {
        It 'a successful cleanup puts no key material or plaintext in the log, the journal or any stream' {
            $f = New-CleanupFixture -Provider $Provider
            Skip-WithoutDatabase $f
            $log = Join-Path $f.Folder 'secrets.log'
            $records = @(Remove-UnusedEncryptionKey -Path $f.Key -Table $f.Table -Column otp -Keep 1 -Force -LogFile $log -Verbose -Provider $f.Db.Provider -ConnectionString $f.Db.ConnectionString *>&1)
            $op = @($records | Where-Object { $_.GetType().FullName -eq 'SecretsPS.Core.Audit.KeyCleanupOperation' })[0]
            $op.Outcome.ToString() | Should -Be 'Succeeded'
            # The removed versions' keys live on in the backups: Assert-NoKeyMaterial reads those too.
            @(Get-KeyMaterial -Path $op.BackupPath | Where-Object Version -EQ 'v2').Count | Should -BeGreaterThan 0
            Assert-NoKeyMaterial -Text (Get-Content -Raw -LiteralPath $log) -KeyFile $f.Key -Plaintexts $f.Plain -Where 'the -LogFile'
            Assert-NoKeyMaterial -Text (Get-Content -Raw -LiteralPath "$($f.Key).audit.jsonl") -KeyFile $f.Key -Plaintexts $f.Plain -Where 'the journal'
            Assert-NoKeyMaterial -Text (ConvertTo-StreamText $records) -KeyFile $f.Key -Plaintexts $f.Plain -Where 'the streams'
        }
    }

    Context 'targets from the pipeline' {
        It 'keeps a version used by the second of two targets bound by property name' {
            $f = New-CleanupFixture -Provider $Provider -Versions 'v1', 'v2', 'v3'
            Skip-WithoutDatabase $f
            $u = 'u_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
            New-CleanupTable -Database $f.Db -Table $u -Column 'token' -Values @('otp-u' | Protect-EncryptedValue -Path $f.Key -Version v2)
            # t uses v1 and v3, u uses v2: nothing can go.
            $op = @([pscustomobject]@{ Table = $f.Table; Column = 'otp' }, [pscustomobject]@{ Table = $u; Column = 'token' }) |
                Remove-UnusedEncryptionKey -Path $f.Key -Keep 1 -Force -Provider $f.Db.Provider -ConnectionString $f.Db.ConnectionString
            $op.Outcome.ToString() | Should -Be 'NothingToRemove'
            ($op.Kept | Where-Object Version -EQ 'v2').Reason | Should -Match "1 row\(s\) of $u\.token"
            $op.Targets.Count | Should -Be 2
            (Get-EncryptionKey -Path $f.Key).Version | Should -Be @('v1', 'v2', 'v3')
        }
    }
}

Describe 'Remove-UnusedEncryptionKey without a database' {
    BeforeAll {
        function New-PlainFixture {
            $folder = New-TestFolder
            [pscustomobject]@{ Folder = $folder; Key = (New-KeyFileWithVersions -Folder $folder -Versions 'v1', 'v2', 'v3') }
        }
    }

    Context 'no target named' {
        It 'removes nothing with <Switches>' -ForEach @(
            @{ Switches = 'neither switch'; Parameters = @{} }
            @{ Switches = '-SkipUsageCheck alone'; Parameters = @{ SkipUsageCheck = $true } }
            @{ Switches = '-Force alone'; Parameters = @{ Force = $true } }
        ) {
            $f = New-PlainFixture
            $hash = Get-FileHashString $f.Key
            $backups = @(Get-BackupFiles -Path $f.Key).Count
            $op = Remove-UnusedEncryptionKey -Path $f.Key -Keep 1 @Parameters -WarningVariable warnings -WarningAction SilentlyContinue
            $op.Outcome.ToString() | Should -Be 'NothingToRemove'
            @($op.Candidates | Sort-Object) | Should -Be @('v1', 'v2')
            ($op.Kept | Where-Object Version -EQ 'v1').Reason | Should -Match 'no target named'
            $warnings | Where-Object { "$_" -match 'No target named' } | Should -Not -BeNullOrEmpty
            Get-FileHashString $f.Key | Should -Be $hash
            @(Get-BackupFiles -Path $f.Key).Count | Should -Be $backups
        }

        It 'removes the candidates with -SkipUsageCheck and -Force together' {
            $f = New-PlainFixture
            $op = Remove-UnusedEncryptionKey -Path $f.Key -Keep 1 -SkipUsageCheck -Force -WarningAction SilentlyContinue
            $op.Outcome.ToString() | Should -Be 'Succeeded'
            @($op.Removed | Sort-Object) | Should -Be @('v1', 'v2')
            (Get-EncryptionKey -Path $f.Key).Version | Should -Be @('v3')
        }
    }

    Context '-Keep N' {
        It 'takes as candidates the versions older than the newest N by file order, even when ENCRYPTION_CREATED__ disagrees, and warns' {
            # FORMATS.md §1: the file order wins. This test used to expect the creation order (vA the oldest), which the rule forbids.
            $folder = New-TestFolder
            $key = Join-Path $folder '.env.crypto'
            # File order vB, vA, vC; creation order vA < vB < vC.
            $null = Write-TestKeyFile -Path $key -Text (New-KeyFileText -Active 'vC' -Versions @(
                    (New-KeyVersionText vB -Created '2024-06-01T00:00:00Z')
                    (New-KeyVersionText vA -Created '2023-01-01T00:00:00Z')
                    (New-KeyVersionText vC -Created '2025-01-01T00:00:00Z')))
            $hash = Get-FileHashString $key
            $keep2 = Remove-UnusedEncryptionKey -Path $key -Keep 2 -SkipUsageCheck -Force -WhatIf -WarningVariable w -WarningAction SilentlyContinue
            $keep1 = Remove-UnusedEncryptionKey -Path $key -Keep 1 -SkipUsageCheck -Force -WhatIf -WarningAction SilentlyContinue
            @($keep2.Candidates) | Should -Be @('vB')
            @($keep1.Candidates | Sort-Object) | Should -Be @('vA', 'vB')
            ($keep2.Kept | Where-Object Version -EQ 'vA').Reason | Should -Be 'among the newest 2'
            ($w -join "`n") | Should -Match 'the file order is used \(vB is the older\)'
            Get-FileHashString $key | Should -Be $hash
        }

        It 'falls back to the order of the file when the versions have no ENCRYPTION_CREATED__' {
            $folder = New-TestFolder
            $key = Join-Path $folder '.env.crypto'
            $null = Write-TestKeyFile -Path $key -Text (New-KeyFileText -Active 'vZ' -Versions @(
                    (New-KeyVersionText vX -NoCreated), (New-KeyVersionText vY -NoCreated), (New-KeyVersionText vZ -NoCreated)))
            $op = Remove-UnusedEncryptionKey -Path $key -Keep 2 -SkipUsageCheck -Force -WarningAction SilentlyContinue
            @($op.Candidates) | Should -Be @('vX')
            @($op.Removed) | Should -Be @('vX')
            (Get-EncryptionKey -Path $key).Version | Should -Be @('vY', 'vZ')
        }

        It 'defaults to 3' {
            $folder = New-TestFolder
            $key = New-KeyFileWithVersions -Folder $folder -Versions 'v1', 'v2', 'v3', 'v4'
            $op = Remove-UnusedEncryptionKey -Path $key -SkipUsageCheck -Force -WhatIf -WarningAction SilentlyContinue
            $op.Keep | Should -Be 3
            @($op.Candidates) | Should -Be @('v1')
        }

        It 'refuses -Keep 0' {
            $f = New-PlainFixture
            { Remove-UnusedEncryptionKey -Path $f.Key -Keep 0 -SkipUsageCheck -Force } | Should -Throw -ErrorId 'ParameterArgumentValidationError*'
        }
    }

    Context 'arguments that cannot work' {
        It '-Table without -Column is TargetIncomplete and changes nothing' {
            $f = New-PlainFixture
            $hash = Get-FileHashString $f.Folder
            $e = Get-ErrorRecord { Remove-UnusedEncryptionKey -Path $f.Key -Table t -Keep 1 -Force -ErrorAction Stop }
            Assert-SecretsPSError $e 'TargetIncomplete' 'InvalidArgument'
            Get-FileHashString $f.Folder | Should -Be $hash
        }

        It 'a target without a database is ConnectionStringMissing and changes nothing' {
            $f = New-PlainFixture
            $hash = Get-FileHashString $f.Folder
            $e = Get-ErrorRecord { Remove-UnusedEncryptionKey -Path $f.Key -Table t -Column otp -Keep 1 -Force -ErrorAction Stop }
            Assert-SecretsPSError $e 'ConnectionStringMissing' 'InvalidArgument'
            Get-FileHashString $f.Folder | Should -Be $hash
        }

        It 'a SQLite database that does not exist is DatabaseNotFound and changes nothing' {
            $f = New-PlainFixture
            $hash = Get-FileHashString $f.Folder
            $e = Get-ErrorRecord { Remove-UnusedEncryptionKey -Path $f.Key -Table t -Column otp -Keep 1 -Force -ConnectionString (Join-Path $f.Folder 'missing.db') -ErrorAction Stop }
            Assert-SecretsPSError $e 'DatabaseNotFound' 'ObjectNotFound'
            Get-FileHashString $f.Folder | Should -Be $hash
        }
    }

    Context 'confirmation' {
        It 'declares ConfirmImpact High and supports -WhatIf/-Confirm (a plain run asks first; -Force answers)' {
            $command = Get-Command Remove-UnusedEncryptionKey
            $attribute = $command.ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]
            $attribute.ConfirmImpact | Should -Be ([System.Management.Automation.ConfirmImpact]::High)
            $attribute.SupportsShouldProcess | Should -BeTrue
            $command.Parameters.Keys | Should -Contain 'WhatIf'
            $command.Parameters.Keys | Should -Contain 'Confirm'
        }

        It '-Confirm:$false confirms in advance without -Force' {
            $f = New-PlainFixture
            $db = New-CleanupDatabase -Provider Sqlite -Folder $f.Folder
            New-CleanupTable -Database $db -Table t -Values @('x' | Protect-EncryptedValue -Path $f.Key)
            $op = Remove-UnusedEncryptionKey -Path $f.Key -Table t -Column otp -ConnectionString $db.ConnectionString -Keep 1 -Confirm:$false
            $op.Outcome.ToString() | Should -Be 'Succeeded'
            @($op.Removed | Sort-Object) | Should -Be @('v1', 'v2')
        }
    }
}
