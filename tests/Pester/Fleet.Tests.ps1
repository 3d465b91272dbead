#Requires -Version 7.4
<#
    Many databases in one pipeline (issue #15): a CSV naming two SQLite files and a PostgreSQL database (and one database
    that does not exist) piped into Start-Reencryption, Get-EncryptedColumnStatus and Remove-UnusedEncryptionKey, each row
    worked on in its own database with the one key file of the command; the outcome checked in each database by the
    independent reader.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    $script:TestFile = Enter-DatabaseTestFile
    $script:Folder = $script:TestFile.Folder
    $script:Key = New-TestRotatedKeyFile -Folder (Join-Path $script:Folder 'keys')   # v1, then v2 active
    # The row counts differ per database, so that counters that crossed between rows would show.
    $script:Databases = @(
        New-TestDatabase -Provider PostgreSql -Server $script:TestFile.Postgres
        New-TestDatabase -Provider Sqlite -Folder $script:Folder
        New-TestDatabase -Provider Sqlite -Folder $script:Folder
    )
    $script:Plain = @{}
    $count = 7
    foreach ($db in $script:Databases) {
        $count += 3
        $script:Plain[$db.ConnectionString] = New-TestPlaintext -Count $count -Tag $db.Name
        New-TestSecretTable -Database $db -Table 'accounts' -Values (New-TestStoredValue -Plaintext $script:Plain[$db.ConnectionString] -KeyFile $script:Key -Version v1)
    }
    $pg, $sqliteA, $sqliteB = $script:Databases
    # Never used to sign in (the test server trusts its user): it must only never be shown.
    $script:Secret = 'Fleet-Secret-' + [guid]::NewGuid().ToString('N').Substring(0, 10)
    $script:Missing = $pg.Server.ConnectionStringFor('fleet_missing_db') + ";Password=$script:Secret"

    function New-FleetCsv {
        # Provider explicit, then inferred (an empty cell) after it, then the database that is not there, then SQLite named.
        param([switch] $WithMissing)
        $rows = @(
            [pscustomobject]@{ Provider = 'PostgreSql'; ConnectionString = $pg.ConnectionString + ";Password=$script:Secret"; Table = 'accounts'; Column = 'otp'; KeyColumn = ''; Password = $script:Secret }
            [pscustomobject]@{ Provider = ''; ConnectionString = $sqliteA.Path; Table = 'accounts'; Column = 'otp'; KeyColumn = 'id'; Password = $script:Secret }
            if ($WithMissing) { [pscustomobject]@{ Provider = 'PostgreSql'; ConnectionString = $script:Missing; Table = 'accounts'; Column = 'otp'; KeyColumn = ''; Password = $script:Secret } }
            [pscustomobject]@{ Provider = 'Sqlite'; ConnectionString = $sqliteB.Path; Table = 'accounts'; Column = 'otp'; KeyColumn = ''; Password = $script:Secret }
        )
        $path = Join-Path $script:Folder ('fleet-' + [guid]::NewGuid().ToString('N').Substring(0, 6) + '.csv')
        $rows | Export-Csv -LiteralPath $path -NoTypeInformation
        $path
    }
}

AfterAll {
    Exit-DatabaseTestFile $script:TestFile
}

Describe 'Import-Csv fleet.csv | Start-Reencryption, Get-EncryptedColumnStatus, Remove-UnusedEncryptionKey' {
    It 'a version still used by one database of the fleet is kept, naming that database' {
        $op = Import-Csv -LiteralPath (New-FleetCsv) | Remove-UnusedEncryptionKey -Path $script:Key -Keep 1 -Force -SkipDiscovery -WarningAction SilentlyContinue
        $op.Removed | Should -BeNullOrEmpty
        $op.Targets.Count | Should -Be 3
        @($op.Targets.Database | Sort-Object -Unique).Count | Should -Be 3 -Because 'each target is counted in its own database'
        (Get-Content -LiteralPath $script:Key -Raw) | Should -Match 'ENCRYPTION_KEYS__v1='
    }

    It 're-encrypts each row''s database; the missing one is one error naming it, and the rows after it still run' {
        $log = Join-Path $script:Folder 'fleet.log'
        $capture = Invoke-TestCapture {
            Import-Csv -LiteralPath (New-FleetCsv -WithMissing) | Start-Reencryption -Path $script:Key -LogFile $log -Verbose -ErrorAction Continue
        }
        $jobs = @($capture.Output)
        $jobs.Count | Should -Be 3
        $errors = @($capture.Records | Where-Object { $_ -is [Management.Automation.ErrorRecord] })
        $errors.Count | Should -Be 1
        $errors[0].ToString() | Should -BeLike '*fleet_missing_db*'
        $capture.Thrown | Should -BeNullOrEmpty
        # Each job is its own database's: its provider, its connection string (without the password), its own row count.
        for ($i = 0; $i -lt 3; $i++) {
            $db = $script:Databases[$i]
            $jobs[$i].Provider | Should -Be $db.Provider
            $jobs[$i].ConnectionString | Should -BeLike "*$($db.Name)*"
            $jobs[$i].Status | Should -Be 'Finished'
            $jobs[$i].Processed | Should -Be $script:Plain[$db.ConnectionString].Count
            $check = Get-TestColumnCheck -Database $db -Table 'accounts' -KeyFile $script:Key -Version v2 -Expected $script:Plain[$db.ConnectionString]
            $check.ReaderError | Should -BeNullOrEmpty
            $check.Mismatches | Should -Be 0
        }
        # The password of the CSV (its Password column and inside its connection strings) reaches no object, stream or log.
        $capture.Text | Should -Not -BeLike "*$script:Secret*"
        ($jobs | ConvertTo-Json -Depth 3) | Should -Not -BeLike "*$script:Secret*"
        Get-Content -LiteralPath $log -Raw | Should -Not -BeLike "*$script:Secret*"
        Get-Content -LiteralPath $log -Raw | Should -BeLike '*fleet_missing_db*'
    }

    It '-MaxDuration is the whole command''s: once it has passed, the next lines are not started, each named in a warning' {
        $before = foreach ($db in $script:Databases[1..2]) { @(Get-ReencryptJob -ConnectionString $db.Path -First 1000).Count }
        $jobs = @(Import-Csv -LiteralPath (New-FleetCsv) | Start-Reencryption -Path $script:Key -MaxDuration 00:00:00.001 -WarningVariable late -WarningAction SilentlyContinue)
        $jobs.Count | Should -Be 1 -Because 'the first line always runs, as a single run does'
        $jobs[0].Provider | Should -Be 'PostgreSql'
        $notStarted = @($late | Where-Object { "$_" -like "*$($script:Databases[1].Path)*" -or "$_" -like "*$($script:Databases[2].Path)*" })
        $notStarted.Count | Should -Be 2
        "$($notStarted[0])" | Should -BeLike "*$($script:Databases[1].Path)*"
        $after = foreach ($db in $script:Databases[1..2]) { @(Get-ReencryptJob -ConnectionString $db.Path -First 1000).Count }
        $after | Should -Be $before -Because 'nothing was written to the databases not started'
    }

    It 'a runbook sees the failure: $? is false and the error is in $Error' {
        # $Error holds at most $MaximumErrorCount records (a long test run fills it): the newest one is compared, not the count.
        $newestBefore = $Error[0]
        Import-Csv -LiteralPath (New-FleetCsv -WithMissing) | Get-EncryptedColumnStatus -Path $script:Key -ErrorAction SilentlyContinue | Out-Null
        $succeeded = $?
        $succeeded | Should -BeFalse
        [object]::ReferenceEquals($Error[0], $newestBefore) | Should -BeFalse
        $Error[0].FullyQualifiedErrorId | Should -BeLike 'DatabaseNotFound*'
        [object]::ReferenceEquals($Error[1], $newestBefore) | Should -BeTrue -Because 'one record failed: one error'
    }

    It 'a line naming a table its database does not have is one error naming that database; the next line still runs' {
        $sqliteA, $sqliteB = $script:Databases[1], $script:Databases[2]
        $lines = @(
            [pscustomobject]@{ Provider = ''; ConnectionString = $sqliteA.Path; Table = 'no_such_table'; Column = 'otp' }
            [pscustomobject]@{ Provider = ''; ConnectionString = $sqliteB.Path; Table = 'accounts'; Column = 'otp' }
        )
        $status = @($lines | Get-EncryptedColumnStatus -Path $script:Key -ErrorVariable wrongTable -ErrorAction SilentlyContinue)
        $status.Count | Should -Be 1
        $status[0].AtActiveVersion | Should -Be $script:Plain[$sqliteB.ConnectionString].Count
        $wrongTable.Count | Should -Be 1
        $wrongTable[0].FullyQualifiedErrorId | Should -BeLike 'TargetNotFound*'
        "$($wrongTable[0])" | Should -BeLike "*$($sqliteA.Path)*"
    }

    It 'Get-EncryptedColumnStatus proves every database complete, each with its own counts' {
        $status = @(Import-Csv -LiteralPath (New-FleetCsv) | Get-EncryptedColumnStatus -Path $script:Key)
        $status.Count | Should -Be 3
        for ($i = 0; $i -lt 3; $i++) {
            $status[$i].IsComplete | Should -BeTrue
            $status[$i].AtActiveVersion | Should -Be $script:Plain[$script:Databases[$i].ConnectionString].Count
        }
    }

    It 'Remove-UnusedEncryptionKey keeps every version while one database of the input cannot be read' {
        # As a runbook without -ErrorAction Stop sees it (the suite's runner itself runs under 'Stop').
        $ErrorActionPreference = 'Continue'
        $capture = Invoke-TestCapture { Import-Csv -LiteralPath (New-FleetCsv -WithMissing) | Remove-UnusedEncryptionKey -Path $script:Key -Keep 1 -Force }
        $capture.Thrown | Should -BeNullOrEmpty
        $op = @($capture.Output)[0]
        $op | Should -Not -BeNullOrEmpty
        $op.Removed | Should -BeNullOrEmpty
        @($op.UnreadDatabases).Count | Should -Be 1
        $errors = @($capture.Records | Where-Object { $_ -is [Management.Automation.ErrorRecord] })
        $errors.FullyQualifiedErrorId | Should -Be 'CleanupDatabaseUnreadable,SecretsPS.Commands.RemoveUnusedEncryptionKeyCommand'
        $errors[0].ToString() | Should -BeLike '*fleet_missing_db*'
        $capture.Text | Should -Not -BeLike "*$script:Secret*"
        (Get-Content -LiteralPath $script:Key -Raw) | Should -Match 'ENCRYPTION_KEYS__v1='
    }

    It 'Remove-UnusedEncryptionKey -WhatIf, then for real, removes v1 once no database uses it; every database still reads' {
        $csv = New-FleetCsv
        $rehearsal = Import-Csv -LiteralPath $csv | Remove-UnusedEncryptionKey -Path $script:Key -Keep 1 -WhatIf
        $rehearsal.Outcome | Should -Be 'NotConfirmed'
        (Get-Content -LiteralPath $script:Key -Raw) | Should -Match 'ENCRYPTION_KEYS__v1='
        $op = Import-Csv -LiteralPath $csv | Remove-UnusedEncryptionKey -Path $script:Key -Keep 1 -Force
        $op.Outcome | Should -Be 'Succeeded'
        $op.Removed | Should -Be @('v1')
        (Get-Content -LiteralPath $script:Key -Raw) | Should -Not -Match 'ENCRYPTION_KEYS__v1='
        foreach ($db in $script:Databases) {
            (Get-TestColumnCheck -Database $db -Table 'accounts' -KeyFile $script:Key -Expected $script:Plain[$db.ConnectionString]).Mismatches | Should -Be 0
        }
    }
}

Describe 'a typed -ConnectionString with piped records' {
    It 'refuses a record that names another database, before touching either' {
        $other = New-TestDatabase -Provider Sqlite -Folder $script:Folder
        { Import-Csv -LiteralPath (New-FleetCsv) | Get-EncryptedColumnStatus -Path $script:Key -ConnectionString $other.Path } |
            Should -Throw -ErrorId 'RecordDatabaseConflict,SecretsPS.Commands.GetEncryptedColumnStatusCommand'
        Test-Path -LiteralPath $other.Path | Should -BeFalse -Because 'the typed database was not opened'
    }

    It 'refuses a record whose Provider differs from the typed -Provider' {
        { [pscustomobject]@{ Provider = 'PostgreSql'; Table = 'accounts'; Column = 'otp' } |
            Get-EncryptedColumnStatus -Path $script:Key -Provider Sqlite -ConnectionString $script:Databases[1].Path } |
            Should -Throw -ErrorId 'RecordDatabaseConflict,SecretsPS.Commands.GetEncryptedColumnStatusCommand'
    }

    It 'Remove-ReencryptJob refuses a job of another database rather than removing the job of the same id in the typed one' {
        $sqliteA, $sqliteB = $script:Databases[1], $script:Databases[2]
        $jobOfA = Get-ReencryptJob -ConnectionString $sqliteA.Path -First 1
        $idInB = @(Get-ReencryptJob -ConnectionString $sqliteB.Path -Id $jobOfA.Id)
        $idInB.Count | Should -Be 1 -Because 'both databases have a job of that id'
        { $jobOfA | Remove-ReencryptJob -ConnectionString $sqliteB.Path -Force } |
            Should -Throw -ErrorId 'RecordDatabaseConflict,SecretsPS.Commands.RemoveReencryptJobCommand'
        @(Get-ReencryptJob -ConnectionString $sqliteB.Path -Id $jobOfA.Id).Count | Should -Be 1
        ($jobOfA | Remove-ReencryptJob -ConnectionString $sqliteA.Path -Force -PassThru).Id | Should -Be $jobOfA.Id
    }

    It 'takes a piped job of the same database (its connection string has no password) and records that name no database' {
        $sqliteA = $script:Databases[1]
        $job = [pscustomobject]@{ Table = 'accounts'; Column = 'otp'; Provider = 'Sqlite'; ConnectionString = $sqliteA.Path }
        ($job | Get-EncryptedColumnStatus -Path $script:Key -ConnectionString $sqliteA.Path).IsComplete | Should -BeTrue
        ([pscustomobject]@{ Table = 'accounts'; Column = 'otp' } | Get-EncryptedColumnStatus -Path $script:Key -ConnectionString $sqliteA.Path).IsComplete | Should -BeTrue
    }
}

Describe 'a piped job of the database $env:SECRETSPS_CONNECTION_STRING names' {
    BeforeAll {
        # A server that signs roles in by password (TCP over TLS only), so that the password visibly matters.
        $script:Tls = Start-TestPostgres -Tls
        if ($script:Tls.Available) {
            $db = New-TestDatabase -Provider PostgreSql -Server $script:Tls
            New-TestSecretTable -Database $db -Table 'accounts' -Values (New-TestStoredValue -Plaintext (New-TestPlaintext -Count 5 -Tag env) -KeyFile $script:Key -Version v2)
            $role = 'fleet_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
            $script:RolePassword = 'Pw-' + [guid]::NewGuid().ToString('N')
            New-TestPostgresRole -Server $script:Tls -Name $role -Password $script:RolePassword -Database $db.Name
            $null = Invoke-TestSql -Database $db -Sql "ALTER TABLE accounts OWNER TO `"$role`""
            $script:WithPassword = $script:Tls.VerifyFullConnectionStringFor($db.Name, $role) + ";Password=$script:RolePassword"
        }
    }

    AfterAll {
        $env:SECRETSPS_CONNECTION_STRING = $null
        Stop-TestPostgres -Server $script:Tls
    }

    It 'signs in with that connection string''s password, which the job does not carry' {
        if (-not $script:Tls.Available) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($script:Tls.Reason)"; return }
        $env:SECRETSPS_CONNECTION_STRING = $script:WithPassword
        $job = Start-Reencryption -Path $script:Key -Table accounts -Column otp -ErrorAction Stop
        $job.ConnectionString | Should -Not -BeLike "*$script:RolePassword*"
        ($job | Get-EncryptedColumnStatus -Path $script:Key -ErrorAction Stop).IsComplete | Should -BeTrue
        ($job | Start-Reencryption -Path $script:Key -ErrorAction Stop).Status | Should -Be 'Finished'
    }
}
