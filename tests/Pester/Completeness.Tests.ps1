#Requires -Version 7.4
<#
    The proof of completion (FORMATS.md §4a) as an operator meets it: a run that leaves values below the target ends
    'incomplete' with a ReencryptionIncomplete error after the job is saved (so -ErrorAction Stop halts a runbook before
    it removes the old key); Get-ReencryptJob shows it; a key column that is the encrypted column, a column that does not
    hold text and a -Resume with another key column are refused before anything is read or written; a key file made by
    New-EncryptionConfig with a version added by hand (no CREATED line) re-encrypts to that version. SQLite, PostgreSQL and
    MariaDB.
#>

BeforeDiscovery {
    $providers = @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' }, @{ Provider = 'MySql' })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'MariaDbServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $script:databaseTestFile = Enter-DatabaseTestFile -MariaDb
    $script:folder = $databaseTestFile.Folder
    $script:pg = $databaseTestFile.Postgres
    $script:my = $databaseTestFile.MariaDb

    function New-Db([string] $Provider) {
        if ($Provider -eq 'MySql') { Assert-TestMariaDb $script:my; return New-TestDatabase -Provider MySql -Server $script:my }
        New-TestDatabase -Provider $Provider -Folder $script:folder -Server $script:pg
    }
    function Test-NoDatabase([string] $Provider) { $Provider -eq 'PostgreSql' -and -not $script:pg.Available }
    function New-RotatedKey { New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $script:folder) }
}

AfterAll {
    Exit-DatabaseTestFile $script:databaseTestFile
}

Describe 'Completeness on <Provider>' -ForEach $providers {
    BeforeAll {
        if (Test-NoDatabase $Provider) { return }
        $key = New-RotatedKey
    }
    BeforeEach {
        if (Test-NoDatabase $Provider) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
    }

    Context 'values the run could not move' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-Db $Provider
            $plain = New-TestPlaintext 20 'stuck'
            New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue $plain $key)
            # Something in the database silently drops the update of odd rows (an audit trigger gone wrong): the database
            # answers "0 rows" with the value unchanged.
            # MySQL cannot skip a row from a trigger: it keeps the old value, and the UPDATE still counts the row as matched.
            $trigger = if ($Provider -eq 'Sqlite') {
                'CREATE TRIGGER keep_odd BEFORE UPDATE ON usuarios WHEN OLD.id % 2 = 1 BEGIN SELECT RAISE(IGNORE); END'
            } elseif ($Provider -eq 'MySql') {
                'CREATE TRIGGER keep_odd BEFORE UPDATE ON usuarios FOR EACH ROW BEGIN IF OLD.id % 2 = 1 THEN SET NEW.otp = OLD.otp; END IF; END'
            } else {
                'CREATE FUNCTION keep_odd() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF OLD.id % 2 = 1 THEN RETURN NULL; END IF; RETURN NEW; END $$; ' +
                'CREATE TRIGGER keep_odd BEFORE UPDATE ON usuarios FOR EACH ROW EXECUTE FUNCTION keep_odd()'
            }
            $null = Invoke-TestSql -Database $db -Sql $trigger
            $run = @{ Provider = $Provider; ConnectionString = $db.ConnectionString; Path = $key }
            $output = @(Start-Reencryption -Table usuarios -Column otp @run -BatchSize 4 -CommitEvery 4 -ErrorVariable runErrors -ErrorAction SilentlyContinue -WarningAction SilentlyContinue)
            $job = $output[0]
        }

        It 'ends the job incomplete, with the count by version it found at the end, never finished' {
            $job.Status.ToString() | Should -Be 'Incomplete'
            $job.Processed | Should -Be 10
            $job.CountsAtFinish['v1'] | Should -Be 10
            $job.CountsAtFinish['v2'] | Should -Be 10
            $row = @(Get-TestJobRow -Database $db -Id $job.Id)[0]
            $row.status | Should -Be 'incomplete'
            $row.message | Should -Match "10 value\(s\) below 'v2'"
            $row.message | Should -Match 'counted at finish: v1=10, v2=10'
            $row.finished_at | Should -Not -BeNullOrEmpty
        }

        It 'reports each row as RowNotUpdated and the job as ReencryptionIncomplete, after the job object' {
            $rowErrors = @($runErrors | Where-Object { $_.FullyQualifiedErrorId -like 'RowNotUpdated*' })
            $rowErrors.Count | Should -Be 10
            $last = $runErrors[$runErrors.Count - 1]
            Assert-SecretsPSError $last 'ReencryptionIncomplete' 'InvalidData'
            $last.Exception.Message | Should -Match 'v1=10'
            $last.Exception.Message | Should -Not -Match 'otp-\d+-'
        }

        It 'stops a script that runs with -ErrorAction Stop, with the job already saved' {
            $stopped = $null
            try { $null = Start-Reencryption -Table usuarios -Column otp @run -ErrorAction Stop -WarningAction SilentlyContinue }
            catch { $stopped = $_ }
            $stopped | Should -Not -BeNullOrEmpty
            (Get-TestJobRow -Database $db)[0].status | Should -BeIn 'incomplete'
        }

        It 'shows the job as incomplete in Get-ReencryptJob and finds it with -Status Incomplete' {
            $jobs = @(Get-ReencryptJob -Provider $Provider -ConnectionString $db.ConnectionString -Status Incomplete)
            $jobs.Count | Should -BeGreaterOrEqual 1
            ($jobs | Out-String -Width 120) | Should -Match 'incomplete'
        }

        It 'finishes once the cause is gone: a new run moves the rest and the proof finds nothing below the target' {
            $null = Invoke-TestSql -Database $db -Sql ('DROP TRIGGER keep_odd' + $(if ($Provider -eq 'PostgreSql') { ' ON usuarios' } else { '' }))
            $again = @(Start-Reencryption -Table usuarios -Column otp @run -Resume)[0]
            $again.Status.ToString() | Should -Be 'Finished'
            $again.Id | Should -Not -Be $job.Id
            $again.CountsAtFinish['v2'] | Should -Be 20
            $check = Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $plain -Version v2
            $check.ReaderError | Should -BeNullOrEmpty
            $check.Mismatches | Should -Be 0
        }
    }

    Context 'refused before anything is read' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-Db $Provider
            New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue (New-TestPlaintext 10 'r') $key)
            $blobType = switch ($Provider) { 'Sqlite' { 'BLOB' } 'MySql' { 'blob' } default { 'bytea' } }
            $null = Invoke-TestSql -Database $db -Sql "CREATE TABLE binarios (id INTEGER PRIMARY KEY, otp $blobType)"
            $run = @{ Provider = $Provider; ConnectionString = $db.ConnectionString; Path = $key }
        }

        It '-KeyColumn naming the encrypted column: KeyColumnIsEncryptedColumn, and no job table' {
            $e = Get-ErrorRecord { Start-Reencryption -Table usuarios -Column otp -KeyColumn otp @run -ErrorAction Stop }
            Assert-SecretsPSError $e 'KeyColumnIsEncryptedColumn' 'InvalidArgument'
            Get-TestTableName $db | Should -Not -Contain 'reencrypt_jobs'
            $w = Get-ErrorRecord { Start-Reencryption -Table usuarios -Column otp -KeyColumn otp @run -WhatIf -ErrorAction Stop }
            Assert-SecretsPSError $w 'KeyColumnIsEncryptedColumn' 'InvalidArgument'
        }

        It 'a column that does not hold text: ColumnTypeUnsupported naming the type, and no job table' {
            $e = Get-ErrorRecord { Start-Reencryption -Table binarios -Column otp @run -ErrorAction Stop }
            Assert-SecretsPSError $e 'ColumnTypeUnsupported' 'InvalidArgument'
            $e.Exception.Message | Should -Match $blobType
            Get-TestTableName $db | Should -Not -Contain 'reencrypt_jobs'
        }

        It '-Resume with another -KeyColumn: JobOptionsMismatch naming both, and the paused job is left as it was' {
            $null = Invoke-TestSql -Database $db -Sql 'CREATE TABLE pares (id INTEGER PRIMARY KEY, alt INTEGER NOT NULL UNIQUE, otp TEXT)'
            $values = New-TestStoredValue (New-TestPlaintext 12 'p') $key
            for ($i = 1; $i -le 12; $i++) { $null = Invoke-TestSql -Database $db -Sql "INSERT INTO pares VALUES ($i, $(100 - $i), '$($values[$i - 1])')" }
            $paused = @(Start-Reencryption -Table pares -Column otp -KeyColumn alt @run -MaxRows 5 -WarningAction SilentlyContinue)[0]
            $paused.Status.ToString() | Should -Be 'Paused'
            $e = Get-ErrorRecord { Start-Reencryption -Table pares -Column otp @run -Resume -ErrorAction Stop }
            Assert-SecretsPSError $e 'JobOptionsMismatch' 'InvalidArgument'
            $e.Exception.Message | Should -Match "'alt'"
            $e.Exception.Message | Should -Match "'id'"
            (Get-TestJobRow -Database $db -Id $paused.Id).status | Should -Be 'paused'
            $done = @(Start-Reencryption -Table pares -Column otp -KeyColumn alt @run -Resume)[0]
            $done.Id | Should -Be $paused.Id
            $done.Status.ToString() | Should -Be 'Finished'
        }
    }
}
