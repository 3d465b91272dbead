#Requires -Version 7.4
<#
    The cmdlets on MariaDB (-Provider MySql), on one throwaway server for the file (tests/servers/mariadb.sh): the count by
    version, the cleanup of unused keys, the job cmdlets, -WhatIf under CHECKSUM TABLE, a runner killed with SIGKILL and
    resumed, the server restarted mid-run, a runner signed in with -Credential that has data rights only, and names that
    would be SQL if they were not quoted, beside decoy tables. Without MariaDB the file fails, saying to install
    mariadb-server (.ci/run does): nothing is skipped.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'MariaDbServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $null = Import-SecretsPSUnderTest
    $script:modulePath = Get-SecretsPSModulePath
    $PSStyle.OutputRendering = 'PlainText'
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:savedConnection = $env:SECRETSPS_CONNECTION_STRING
    $env:SECRETSPS_CONNECTION_STRING = $null
    $script:folder = New-TestDatabaseFolder
    $script:my = $null
    $script:my = Start-TestMariaDb
    Assert-TestMariaDb $my
    $script:runners = [Collections.Generic.List[object]]::new()

    function New-MySqlFixture([int] $Count, [string] $Table = 'usuarios', [int[]] $NullKeys = @()) {
        $app = New-TestFolder -Parent $folder
        $key = New-TestKeyFile -Folder $app
        $db = New-TestDatabase -Provider MySql -Server $my
        $plain = New-TestPlaintext $Count $Table -NullKeys $NullKeys
        New-TestSecretTable -Database $db -Table $Table -Values (New-TestStoredValue $plain $key) -Definition 'id INTEGER PRIMARY KEY, otp VARCHAR(500)'
        $null = Invoke-KeyRotation -Path $key -Confirm:$false -WarningAction SilentlyContinue
        [pscustomobject]@{ Folder = $app; Key = $key; Db = $db; Plain = $plain; NonNull = $Count - $NullKeys.Count
            Args = @{ Provider = 'MySql'; ConnectionString = $db.ConnectionString; Path = $key } }
    }
}

AfterAll {
    foreach ($r in $script:runners) { Stop-TestPwshProcess $r }
    Stop-TestMariaDb -Server $script:my
    Remove-TestDatabaseFolder $script:folder
    Restore-KeyEnvironment $script:savedEnvironment
    $env:SECRETSPS_CONNECTION_STRING = $script:savedConnection
}

Describe 'Get-EncryptedColumnStatus, Start-Reencryption, Remove-UnusedEncryptionKey and the job cmdlets on MariaDB' {
    BeforeAll {
        $f = New-MySqlFixture 80 -NullKeys 5, 40
        $a = $f.Args
    }

    It 'Get-EncryptedColumnStatus counts the rows per version in the database' {
        $s = Get-EncryptedColumnStatus -Table usuarios -Column otp @a
        $s.TotalRows | Should -Be 80
        $s.NullRows | Should -Be 2
        $s.RowsByVersion['v1'] | Should -Be 78
        $s.ActiveVersion | Should -Be 'v2'
        $s.IsComplete | Should -BeFalse
    }

    It 'Remove-UnusedEncryptionKey keeps v1 while rows use it' {
        $op = Remove-UnusedEncryptionKey -Table usuarios -Column otp -Keep 1 -Force @a
        $op.Removed | Should -BeNullOrEmpty
        ($op.Kept | Where-Object Version -EQ 'v1').Reason | Should -Match 'still used by 78 row\(s\)'
    }

    It 'Start-Reencryption -WhatIf rehearses and leaves every CHECKSUM TABLE unchanged' {
        $before = Get-TestDatabaseState -Database $f.Db -Table usuarios
        $before | Should -Match 'usuarios'
        $preview = Start-Reencryption -Table usuarios -Column otp @a -WhatIf
        $preview.WouldReencrypt | Should -Be 78
        Get-TestDatabaseState -Database $f.Db -Table usuarios | Should -BeExactly $before
    }

    It 'Start-Reencryption pauses at -MaxRows, and -Resume finishes: the independent reader finds every row at v2' {
        $paused = Start-Reencryption -Table usuarios -Column otp @a -BatchSize 7 -CommitEvery 7 -MaxRows 30
        $paused.Status.ToString() | Should -Be 'Paused'
        $job = Start-Reencryption -Table usuarios -Column otp @a -BatchSize 7 -CommitEvery 7 -Resume
        $job.Id | Should -Be $paused.Id
        $job.Status.ToString() | Should -Be 'Finished'
        $job.Processed | Should -Be 78
        $check = Get-TestColumnCheck -Database $f.Db -Table usuarios -Column otp -KeyFile $f.Key -Expected $f.Plain -Version v2
        $check.ReaderError | Should -BeNullOrEmpty
        $check.Mismatches | Should -Be 0
        $check.Reader | Should -Be 'secretsps_ref.py'
    }

    It 'a second run skips every row' {
        $again = Start-Reencryption -Table usuarios -Column otp @a
        ($again.Processed, $again.Skipped, $again.Errors) | Should -Be @(0, 78, 0)
    }

    It 'Get-ReencryptJob lists the jobs newest first, and Remove-ReencryptJob removes one' {
        $jobs = @(Get-ReencryptJob -Provider MySql -ConnectionString $f.Db.ConnectionString)
        $jobs.Count | Should -Be 2
        $jobs[0].Id | Should -BeGreaterThan $jobs[1].Id
        $jobs.Status.ForEach({ $_.ToString() }) | Should -Be @('Finished', 'Finished')
        Remove-ReencryptJob -Provider MySql -ConnectionString $f.Db.ConnectionString -Id $jobs[1].Id -Confirm:$false
        @(Get-ReencryptJob -Provider MySql -ConnectionString $f.Db.ConnectionString).Id | Should -Be @($jobs[0].Id)
    }

    It 'Remove-UnusedEncryptionKey removes v1 once no row uses it, and everything still decrypts' {
        $op = Remove-UnusedEncryptionKey -Table usuarios -Column otp -Keep 1 -Force @a
        @($op.Removed) | Should -Be @('v1')
        (Get-EncryptionKey -Path $f.Key).Version | Should -Be @('v2')
        $check = Get-TestColumnCheck -Database $f.Db -Table usuarios -Column otp -KeyFile $f.Key -Expected $f.Plain -Version v2
        $check.Mismatches | Should -Be 0
    }

    It 'the job tables are InnoDB in utf8mb4 and hold no value' {
        $engines = @(Invoke-TestSql -Database $f.Db -Sql "SELECT TABLE_NAME, ENGINE, TABLE_COLLATION FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'reencrypt%'")
        [Array]::Sort($engines, [StringComparer]::Ordinal)
        $engines | Should -Be @('reencrypt_job_chunks|InnoDB|utf8mb4_bin', 'reencrypt_job_errors|InnoDB|utf8mb4_bin', 'reencrypt_jobs_lock|InnoDB|utf8mb4_bin', 'reencrypt_jobs|InnoDB|utf8mb4_bin')
        $text = Get-TestJobTableText -Database $f.Db
        $text | Should -Match 'usuarios'
        $text | Should -Not -Match 'gAAAAA|Z0FBQUFB'
    }
}

Describe 'Start-Reencryption on MariaDB killed with SIGKILL mid-run' {
    BeforeAll {
        # Small pages and commits: the run must still be going when the condition below is seen.
        $f = New-MySqlFixture 15000 -NullKeys 17
        $command = "Start-Reencryption -Provider MySql -ConnectionString '$($f.Db.ConnectionString)' -Path '$($f.Key)' -Table usuarios -Column otp " +
            "-BatchSize 10 -CommitEvery 10 -ErrorAction Stop | Out-Null"
        $runner = Start-TestPwshProcess -Command "Import-Module '$modulePath'; $command"
        $runners.Add($runner)
        $null = Wait-TestCondition -TimeoutSeconds 90 -IntervalMs 50 -Because 'the runner to commit 100 rows' -Condition {
            if ($runner.Process.HasExited) { throw "The runner ended before it was killed: $($runner.StdErr.Result)" }
            $j = @(Get-TestJobRow -Database $f.Db -IfExists)
            $j.Count -gt 0 -and [long]$j[0].processed -ge 100
        }
        Stop-TestPwshProcess $runner
        $killed = @(Get-TestJobRow -Database $f.Db)[0]
        $state = @(Invoke-TestSql -Database $f.Db -Sql "SELECT SUM(otp LIKE 'v2:%'), SUM(otp LIKE 'v2:%' AND id > $($killed.last_key)), SUM(otp LIKE 'v1:%' AND id <= $($killed.last_key)) FROM usuarios")[0] -split '\|'
        $fa = $f.Args
        $resumed = Start-Reencryption -Table usuarios -Column otp @fa -Resume -BatchSize 500 -CommitEvery 1000
    }

    It 'the killed run left its job running, its committed rows exactly those up to the cursor' {
        $killed.status | Should -Be 'running'
        [long]$killed.processed | Should -BeLessThan $f.NonNull
        [long]$state[0] | Should -Be ([long]$killed.processed)
        [long]$state[1] | Should -Be 0
        [long]$state[2] | Should -Be 0
    }

    It '-Resume takes the job over (its runner is gone) and finishes it with every row processed once' {
        $resumed.Id | Should -Be ([long]$killed.id)
        $resumed.Status.ToString() | Should -Be 'Finished'
        ($resumed.Processed, $resumed.Skipped, $resumed.Errors) | Should -Be @($f.NonNull, 0, 0)
    }

    It 'the independent reader finds every row at v2 with its plaintext' {
        $check = Get-TestColumnCheck -Database $f.Db -Table usuarios -Column otp -KeyFile $f.Key -Expected $f.Plain -Version v2
        $check.ReaderError | Should -BeNullOrEmpty
        $check.Mismatches | Should -Be 0
    }
}

Describe 'Start-Reencryption on MariaDB when the server restarts mid-run (the run rides it out)' {
    BeforeAll {
        $f = New-MySqlFixture 10000
        $command = "Start-Reencryption -Provider MySql -ConnectionString '$($f.Db.ConnectionString)' -Path '$($f.Key)' -Table usuarios -Column otp " +
            "-BatchSize 10 -CommitEvery 10"
        $runner = Start-TestPwshProcess -Command "Import-Module '$modulePath'; try { $command -ErrorAction Stop | Out-Null; 'NOERROR' } catch { 'ERRORID=' + `$_.FullyQualifiedErrorId }"
        $runners.Add($runner)
        $null = Wait-TestCondition -TimeoutSeconds 90 -IntervalMs 50 -Because 'the runner to commit 100 rows' -Condition {
            if ($runner.Process.HasExited) { throw "The runner ended before the restart: $($runner.StdOut.Result)$($runner.StdErr.Result)" }
            $j = @(Get-TestJobRow -Database $f.Db -IfExists)
            $j.Count -gt 0 -and [long]$j[0].processed -ge 100
        }
        Restart-TestMariaDb -Server $my
        $null = $runner.Process.WaitForExit(90000)
        $output = $runner.StdOut.Result
    }

    It 'the run rides out the restart: it retries from its last committed row, with a warning, and finishes' {
        $output | Should -Match 'Retrying from the last committed row'
        $output | Should -Match 'NOERROR'
    }

    It 'leaves one job, finished, with every row at v2' {
        $jobs = @(Get-TestJobRow -Database $f.Db)
        $jobs.Count | Should -Be 1
        $jobs[0].status | Should -Be 'finished'
        $check = Get-TestColumnCheck -Database $f.Db -Table usuarios -Column otp -KeyFile $f.Key -Expected $f.Plain -Version v2
        $check.Mismatches | Should -Be 0
    }
}

Describe 'A runner on MariaDB signed in with -Credential, with data rights only once the job tables exist' {
    BeforeAll {
        $f = New-MySqlFixture 60
        $fa = $f.Args
        $null = Start-Reencryption -Table usuarios -Column otp @fa -MaxRows 10
        $user = 'runner_' + [guid]::NewGuid().ToString('N').Substring(0, 10)
        $password = 'S3cr3t-' + [guid]::NewGuid().ToString('N')
        $null = Invoke-TestSql -Database $f.Db -Sql "CREATE USER '$user'@'%' IDENTIFIED BY '$password'; GRANT SELECT, INSERT, UPDATE, DELETE ON `"$($f.Db.Name)`".* TO '$user'@'%'"
        $credential = [pscredential]::new($user, (ConvertTo-SecureString $password -AsPlainText -Force))
        $noUser = $f.Db.ConnectionString -replace 'User ID=test;', ''
        $records = @(Start-Reencryption -Table usuarios -Column otp -Provider MySql -ConnectionString $noUser -Credential $credential -Path $f.Key -Resume -Verbose *>&1)
        $job = $records | Where-Object { $_.PSObject.Properties['Processed'] }
        $wrong = Get-ErrorRecord { Get-ReencryptJob -Provider MySql -ConnectionString $noUser -Credential ([pscredential]::new($user, (ConvertTo-SecureString 'wrong' -AsPlainText -Force))) -ErrorAction Stop }
    }

    It 'finishes the job the owner started' {
        $job.Status.ToString() | Should -Be 'Finished'
        ($job.Processed, $job.Skipped, $job.Errors) | Should -Be @(60, 0, 0)
        @(Invoke-TestSql -Database $f.Db -Sql "SELECT COUNT(*) FROM usuarios WHERE otp LIKE 'v2:%'") | Should -Be '60'
    }

    It 'a wrong password is DatabaseAuthenticationFailed, and no stream or job row holds the password' {
        Assert-SecretsPSError $wrong 'DatabaseAuthenticationFailed'
        ($records | Out-String) + $wrong.ToString() + (Get-TestJobTableText -Database $f.Db) | Should -Not -Match ([regex]::Escape($password))
    }
}

Describe 'Names that would be SQL on MariaDB, beside decoy tables' {
    BeforeAll {
        $app = New-TestFolder -Parent $folder
        $key = New-TestKeyFile -Folder $app
        $db = New-TestDatabase -Provider MySql -Server $my
        $hostile = 'us`ers; DROP TABLE decoy; --'
        $values = New-TestStoredValue (New-TestPlaintext 12 'h') $key
        New-TestSecretTable -Database $db -Table 'decoy' -Values $values -Definition 'id INTEGER PRIMARY KEY, otp TEXT'
        New-TestSecretTable -Database $db -Table 'US`ERS; DROP TABLE decoy; --' -Values $values -Definition 'id INTEGER PRIMARY KEY, otp TEXT'
        $null = Invoke-TestSql -Database $db -Sql "CREATE TABLE `"$hostile`" (`"i``d`" INTEGER PRIMARY KEY, `"o``tp`" TEXT)"
        $null = Invoke-TestSql -Database $db -Sql ("INSERT INTO `"$hostile`" VALUES " + ((1..12 | ForEach-Object { "($_, '$($values[$_ - 1])')" }) -join ', '))
        $null = Invoke-KeyRotation -Path $key -Confirm:$false -WarningAction SilentlyContinue
        $job = Start-Reencryption -Provider MySql -ConnectionString $db.ConnectionString -Path $key -Table $hostile -Column 'o`tp'
    }

    It 're-encrypts the named table through its own primary key' {
        $job.Status.ToString() | Should -Be 'Finished'
        $job.KeyColumn | Should -Be 'i`d'
        $job.Processed | Should -Be 12
    }

    It 'leaves the decoy tables (one differs only in case) as they were' {
        @(Invoke-TestSql -Database $db -Sql "SELECT COUNT(*) FROM decoy WHERE otp LIKE 'v1:%'") | Should -Be '12'
        @(Invoke-TestSql -Database $db -Sql "SELECT COUNT(*) FROM `"US``ERS; DROP TABLE decoy; --`" WHERE otp LIKE 'v1:%'") | Should -Be '12'
        @(Invoke-TestSql -Database $db -Sql "SELECT COUNT(*) FROM `"$hostile`" WHERE `"o``tp`" LIKE 'v2:%'") | Should -Be '12'
    }
}

Describe '-Provider MySql' {
    It 'is one of the values -Provider accepts, and tab completion offers it' {
        { Get-ReencryptJob -Provider MySequel -ConnectionString 'Server=127.0.0.1;Port=9' } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,SecretsPS.Commands.GetReencryptJobCommand'
        $bound = try { Get-ReencryptJob -Provider MySql -ConnectionString 'Server=127.0.0.1;Port=9;Connection Timeout=1' -ErrorAction Stop } catch { $_ }
        $bound.FullyQualifiedErrorId | Should -Not -BeLike 'ParameterArgumentValidationError*'
        $line = 'Start-Reencryption -Provider My'
        $completion = TabExpansion2 -inputScript $line -cursorColumn $line.Length
        $completion.CompletionMatches.CompletionText | Should -Contain 'MySql'
    }

    It 'a connection string that is not valid is ConnectionStringInvalid, without its text' {
        $e = Get-ErrorRecord { Get-ReencryptJob -Provider MySql -ConnectionString 'Server=x;Password=hunter2;Bogus Option=1' -ErrorAction Stop }
        Assert-SecretsPSError $e 'ConnectionStringInvalid'
        $e.ToString() | Should -Not -Match 'hunter2'
    }
}
