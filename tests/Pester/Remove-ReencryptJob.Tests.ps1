#Requires -Version 7.4
<#
    Remove-ReencryptJob on SQLite and PostgreSQL (one throwaway PostgreSQL server for the file): removal by age
    (-FinishedOlderThan, -StalledOlderThan; jobs are aged by SQL), by pipeline input from Get-ReencryptJob, -WhatIf,
    -Force, the error rows going with their job, and ConfirmImpact High in a host that cannot prompt.
#>

BeforeDiscovery {
    $providers = @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' }, @{ Provider = 'MySql' })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $script:databaseTestFile = Enter-DatabaseTestFile
    $script:folder = $databaseTestFile.Folder
    $script:pg = $databaseTestFile.Postgres
    $script:modulePath = (Get-Module SecretsPS).Path
    Import-Module (Join-Path $PSScriptRoot 'MariaDbServer.psm1')
    $script:my = $null
    $script:my = Start-TestMariaDb
    # The server of a provider (MariaDB's fails the test when missing: Assert-TestMariaDb says to install it).
    function Get-Server([string] $Provider) { if ($Provider -eq 'MySql') { Assert-TestMariaDb $script:my; $script:my } else { $script:pg } }

    function Test-NoDatabase([string] $Provider) { $Provider -eq 'PostgreSql' -and -not $script:pg.Available }

    function Get-JobIds([object] $Db) { @(Get-TestJobRow -Database $Db | ForEach-Object { [long]$_.id }) }

    # A database with table e (3 rows, row 2 not ciphertext: every run on it leaves an error row) and table p (10 rows).
    function New-JobDatabase([string] $Provider, [string] $Key) {
        $db = New-TestDatabase -Provider $Provider -Folder $script:folder -Server (Get-Server $Provider)
        $e = New-TestStoredValue (New-TestPlaintext 3 'e') $Key
        $e[1] = 'not-a-ciphertext'
        New-TestSecretTable -Database $db -Table e -Values $e
        New-TestSecretTable -Database $db -Table p -Values (New-TestStoredValue (New-TestPlaintext 10 'p') $Key)
        $db
    }

    # ConfirmImpact High in a host that cannot prompt: a fresh pwsh -NonInteractive, started now (it takes seconds to
    # start on a busy machine) and checked in the last Describe. One process for both databases: without -Force, each
    # call must fail at once, not wait for an answer.
    $script:promptKey = New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $script:folder)
    $script:promptDbs = @(New-JobDatabase Sqlite $promptKey)
    if ($script:pg.Available) { $script:promptDbs += New-JobDatabase PostgreSql $promptKey }
    foreach ($db in $promptDbs) {
        $j = Start-Reencryption -Table e -Column otp -Provider $db.Provider -ConnectionString $db.ConnectionString -Path $promptKey -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
        Set-TestJobRow -Database $db -Id $j.Id -FinishedAt ([DateTime]::UtcNow.AddDays(-30))
    }
    $calls = foreach ($db in $promptDbs) {
        "`$sw = [Diagnostics.Stopwatch]::StartNew(); try { Remove-ReencryptJob -Provider $($db.Provider) -ConnectionString '$($db.ConnectionString)' -ErrorAction Stop; '$($db.Provider)=NOERROR' } " +
        "catch { '$($db.Provider)=' + `$_.FullyQualifiedErrorId + '|' + [int]`$sw.Elapsed.TotalMilliseconds + '|' + `$_.Exception.Message }"
    }
    $script:promptClock = [Diagnostics.Stopwatch]::StartNew()
    $script:promptChild = Start-TestPwshProcess -Command ("Import-Module '$modulePath'`n" + ($calls -join "`n"))
}

AfterAll {
    Stop-TestPwshProcess $script:promptChild
    Stop-TestMariaDb -Server $script:my
    Exit-DatabaseTestFile $script:databaseTestFile
}

Describe 'Remove-ReencryptJob on <Provider>' -ForEach $providers {
    BeforeAll {
        if (Test-NoDatabase $Provider) { return }
        $key = New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $folder)
        $quiet = @{ WarningAction = 'SilentlyContinue'; ErrorAction = 'SilentlyContinue' }
    }
    BeforeEach {
        if (Test-NoDatabase $Provider) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
    }

    It 'declares ConfirmImpact High and supports -WhatIf/-Confirm' {
        $attribute = (Get-Command Remove-ReencryptJob).ImplementingType.GetCustomAttributes([Management.Automation.CmdletAttribute], $false)[0]
        $attribute.ConfirmImpact.ToString() | Should -Be 'High'
        $attribute.SupportsShouldProcess | Should -BeTrue
    }

    Context 'by age' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-JobDatabase $Provider $key
            $conn = @{ Provider = $Provider; ConnectionString = $db.ConnectionString }
            $run = $conn + @{ Path = $key }
            $j1 = Start-Reencryption -Table e -Column otp @run @quiet                # finished (1 error row) — aged 30 days below
            $j2 = Start-Reencryption -Table e -Column otp @run @quiet                # finished just now (1 error row)
            $j3 = Start-Reencryption -Table p -Column otp @run -MaxRows 2 @quiet     # -> running, heartbeat 30 days old (stalled)
            $j4 = Start-Reencryption -Table p -Column otp @run -MaxRows 2 @quiet     # -> running, fresh heartbeat
            $j5 = Start-Reencryption -Table p -Column otp @run -MaxRows 2 @quiet     # paused, 30 days old
            $old = [DateTime]::UtcNow.AddDays(-30)
            Set-TestJobRow -Database $db -Id $j1.Id -FinishedAt $old -UpdatedAt $old
            Set-TestJobRow -Database $db -Id $j3.Id -Status running -Owner 'otherhost:1' -UpdatedAt $old
            Set-TestJobRow -Database $db -Id $j4.Id -Status running -Owner 'otherhost:1' -UpdatedAt ([DateTime]::UtcNow)
            Set-TestJobRow -Database $db -Id $j5.Id -UpdatedAt $old
            $errorRowsBefore = @(Get-TestJobErrorRow -Database $db)
        }

        It 'has the jobs it needs' {
            Get-JobIds $db | Should -Be @($j5.Id, $j4.Id, $j3.Id, $j2.Id, $j1.Id)
            @($errorRowsBefore | Where-Object job_id -EQ $j1.Id).Count | Should -Be 1
            @($errorRowsBefore | Where-Object job_id -EQ $j2.Id).Count | Should -Be 1
        }

        It '-WhatIf removes nothing' {
            $out = @(Remove-ReencryptJob @conn -WhatIf -PassThru)
            $out.Count | Should -Be 0
            Get-JobIds $db | Should -Be @($j5.Id, $j4.Id, $j3.Id, $j2.Id, $j1.Id)
            @(Get-TestJobErrorRow -Database $db).Count | Should -Be $errorRowsBefore.Count
        }

        It '-Force (defaults 7 days) removes the old finished job and the stalled one, with their error rows' {
            $out = @(Remove-ReencryptJob @conn -Force -PassThru -ErrorVariable e)
            $e.Count | Should -Be 0
            @($out.Id | Sort-Object) | Should -Be @($j1.Id, $j3.Id)
            $out[0].GetType().Name | Should -Be 'ReencryptJob'
            Get-JobIds $db | Should -Be @($j5.Id, $j4.Id, $j2.Id)
            $errorRows = @(Get-TestJobErrorRow -Database $db)
            @($errorRows | Where-Object job_id -EQ $j1.Id).Count | Should -Be 0
            @($errorRows | Where-Object job_id -EQ $j2.Id).Count | Should -Be 1
        }

        It '-FinishedOlderThan 0 removes every finished job and nothing else' {
            $out = @(Remove-ReencryptJob @conn -FinishedOlderThan 0 -Force -PassThru)
            @($out.Id) | Should -Be @($j2.Id)
            Get-JobIds $db | Should -Be @($j5.Id, $j4.Id)
            @(Get-TestJobErrorRow -Database $db).Count | Should -Be 0
        }

        It '-StalledOlderThan 0 keeps a running job whose heartbeat is fresh (JobRunning), and removes it once the heartbeat stopped' {
            Set-TestJobRow -Database $db -Id $j4.Id -UpdatedAt ([DateTime]::UtcNow)
            $out = @(Remove-ReencryptJob @conn -StalledOlderThan 0 -Force -PassThru -ErrorVariable e -ErrorAction SilentlyContinue)
            $out.Count | Should -Be 0
            $e.Count | Should -Be 1
            Assert-SecretsPSError $e[0] 'JobRunning' 'InvalidOperation'
            Get-JobIds $db | Should -Be @($j5.Id, $j4.Id)
            Set-TestJobRow -Database $db -Id $j4.Id -UpdatedAt ([DateTime]::UtcNow.AddMinutes(-20))
            $out = @(Remove-ReencryptJob @conn -StalledOlderThan 0 -Force -PassThru -ErrorVariable e2)
            $e2.Count | Should -Be 0
            @($out.Id) | Should -Be @($j4.Id)
        }

        It 'never removes a paused job by age' {
            Get-JobIds $db | Should -Be @($j5.Id)
            (Get-TestJobRow -Database $db -Id $j5.Id).status | Should -Be 'paused'
        }
    }

    Context 'pipeline input from Get-ReencryptJob, and -Id' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-JobDatabase $Provider $key
            $conn = @{ Provider = $Provider; ConnectionString = $db.ConnectionString }
            $run = $conn + @{ Path = $key }
            $j1 = Start-Reencryption -Table p -Column otp @run -MaxRows 2 @quiet     # paused
            $j2 = Start-Reencryption -Table p -Column otp @run -MaxRows 2 @quiet     # paused
            $j3 = Start-Reencryption -Table p -Column otp @run @quiet                # finished
            $j4 = Start-Reencryption -Table e -Column otp @run @quiet                # finished, 1 error row
        }

        It '-WhatIf removes nothing' {
            $out = @(Get-ReencryptJob @conn | Remove-ReencryptJob @conn -WhatIf -PassThru)
            $out.Count | Should -Be 0
            Get-JobIds $db | Should -Be @($j4.Id, $j3.Id, $j2.Id, $j1.Id)
        }

        It 'removes the piped jobs with -Force, without prompting' {
            $out = @(Get-ReencryptJob @conn -Status Paused | Remove-ReencryptJob @conn -Force -PassThru)
            @($out.Id) | Should -Be @($j2.Id, $j1.Id)
            Get-JobIds $db | Should -Be @($j4.Id, $j3.Id)
        }

        It 'removes a job with its error rows (-Confirm:$false)' {
            @(Get-TestJobErrorRow -Database $db -JobId $j4.Id).Count | Should -Be 1
            Get-ReencryptJob @conn -Id $j4.Id | Remove-ReencryptJob @conn -Confirm:$false
            Get-JobIds $db | Should -Be @($j3.Id)
            @(Get-TestJobErrorRow -Database $db).Count | Should -Be 0
        }

        It '-Id of a job that does not exist: a JobNotFound error, and the others are still removed' {
            $out = @(Remove-ReencryptJob @conn -Id 9999, $j3.Id -Force -PassThru -ErrorVariable e -ErrorAction SilentlyContinue)
            $e.Count | Should -Be 1
            Assert-SecretsPSError $e[0] 'JobNotFound' 'ObjectNotFound'
            @($out.Id) | Should -Be @($j3.Id)
            @(Get-JobIds $db).Count | Should -Be 0
        }

        It 'does not remove a running job with a fresh heartbeat given by -Id (JobRunning)' {
            $j5 = Start-Reencryption -Table p -Column otp @run -MaxRows 1 @quiet
            Set-TestJobRow -Database $db -Id $j5.Id -Status running -Owner 'otherhost:1' -UpdatedAt ([DateTime]::UtcNow)
            $null = Get-ReencryptJob @conn -Id $j5.Id | Remove-ReencryptJob @conn -Force -ErrorVariable e -ErrorAction SilentlyContinue
            $e.Count | Should -Be 1
            Assert-SecretsPSError $e[0] 'JobRunning' 'InvalidOperation'
            Get-JobIds $db | Should -Be @($j5.Id)
        }
    }

    It 'does nothing, and reports nothing, where no job table exists' {
        $fresh = New-TestDatabase -Provider $Provider -Folder $folder -Server (Get-Server $Provider)
        New-TestSecretTable -Database $fresh -Table usuarios -Values @('x')
        $out = @(Remove-ReencryptJob -Provider $Provider -ConnectionString $fresh.ConnectionString -Force -PassThru -ErrorVariable e)
        $out.Count | Should -Be 0
        $e.Count | Should -Be 0
        Get-TestTableName $fresh | Should -Be @('usuarios')
    }

    It '-Id where no job table exists: a JobNotFound error for each id, and no table is created' {
        $fresh = New-TestDatabase -Provider $Provider -Folder $folder -Server (Get-Server $Provider)
        New-TestSecretTable -Database $fresh -Table usuarios -Values @('x')
        $out = @(Remove-ReencryptJob -Provider $Provider -ConnectionString $fresh.ConnectionString -Id 3, 4 -Force -PassThru -ErrorVariable e -ErrorAction SilentlyContinue)
        $out.Count | Should -Be 0
        $e.Count | Should -Be 2
        Assert-SecretsPSError $e[0] 'JobNotFound' 'ObjectNotFound'
        $e[1].TargetObject | Should -Be 4
        Get-TestTableName $fresh | Should -Be @('usuarios')
    }

    Context 'the staleness rule of Start-Reencryption (JobStaleness), shared' {
        BeforeAll {
            if (Test-NoDatabase $Provider) { return }
            $db = New-JobDatabase $Provider $key
            $conn = @{ Provider = $Provider; ConnectionString = $db.ConnectionString }
            $run = $conn + @{ Path = $key }
            # A process of this machine that has ended: its pid names no process now.
            $gone = [Diagnostics.Process]::Start('true'); $gone.WaitForExit(); $gonePid = $gone.Id; $gone.Dispose()
            $deadOwner = "$([Environment]::MachineName):$gonePid"
        }

        It 'a running job whose owner process on this machine is gone is stale for both at once (fresh heartbeat)' {
            $jp = Start-Reencryption -Table p -Column otp @run -MaxRows 2 @quiet
            $je = Start-Reencryption -Table e -Column otp @run -MaxRows 1 @quiet
            foreach ($j in $jp, $je) { Set-TestJobRow -Database $db -Id $j.Id -Status running -Owner $deadOwner -UpdatedAt ([DateTime]::UtcNow) }
            # Remove-ReencryptJob removes it (no JobRunning) …
            $out = @(Remove-ReencryptJob @conn -Id $je.Id -Force -PassThru -ErrorVariable e -ErrorAction SilentlyContinue)
            $e.Count | Should -Be 0 -Because "$e"
            @($out.Id) | Should -Be @($je.Id)
            # … and Start-Reencryption takes the other over (no JobAlreadyRunning).
            $resumed = Start-Reencryption -Table p -Column otp @run -Resume -ErrorVariable e2 -WarningAction SilentlyContinue
            $e2.Count | Should -Be 0 -Because "$e2"
            $resumed.Id | Should -Be $jp.Id
            $resumed.Status.ToString() | Should -Be 'Finished'
        }

        It 'a fresh heartbeat of another host is stale for neither' {
            $j = Start-Reencryption -Table e -Column otp @run -MaxRows 1 @quiet
            Set-TestJobRow -Database $db -Id $j.Id -Status running -Owner 'otherhost:4242' -UpdatedAt ([DateTime]::UtcNow)
            $null = Remove-ReencryptJob @conn -Id $j.Id -Force -ErrorVariable e -ErrorAction SilentlyContinue
            Assert-SecretsPSError $e[0] 'JobRunning' 'InvalidOperation'
            $err = Get-ErrorRecord { Start-Reencryption -Table e -Column otp @run -Resume -ErrorAction Stop -WarningAction SilentlyContinue }
            Assert-SecretsPSError $err 'JobAlreadyRunning' 'ResourceUnavailable'
            (Get-TestJobRow -Database $db -Id $j.Id).status | Should -Be 'running'
            Set-TestJobRow -Database $db -Id $j.Id -Status paused # out of the next test's way
        }

        It '-StaleAfter decides for Remove-ReencryptJob as it does for Start-Reencryption' {
            $j = Start-Reencryption -Table e -Column otp @run -MaxRows 1 @quiet
            # A heartbeat older than the server's start is stale by the restart rule: keep it after the throwaway server started.
            $serverAge = switch ($Provider) {
                'PostgreSql' { [double](Invoke-TestSql -Database $db -Sql 'SELECT extract(epoch FROM now() - pg_postmaster_start_time())') }
                'MySql' { [double](Invoke-TestSql -Database $db -Sql "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'") }
                default { 1e9 }
            }
            $heartbeatAge = [Math]::Min(180, $serverAge / 2)
            Set-TestJobRow -Database $db -Id $j.Id -Status running -Owner 'otherhost:4242' -UpdatedAt ([DateTime]::UtcNow.AddSeconds(-$heartbeatAge))
            $null = Remove-ReencryptJob @conn -Id $j.Id -Force -ErrorVariable e -ErrorAction SilentlyContinue
            Assert-SecretsPSError $e[0] 'JobRunning' 'InvalidOperation'
            $out = @(Remove-ReencryptJob @conn -Id $j.Id -StaleAfter ([TimeSpan]::FromSeconds($heartbeatAge / 2)) -Force -PassThru)
            @($out.Id) | Should -Be @($j.Id)
        }
    }
}

Describe 'Remove-ReencryptJob in a host that cannot prompt (fresh pwsh -NonInteractive)' {
    BeforeAll {
        # Started in the file's BeforeAll; a hang is a failure.
        $exited = $promptChild.Process.WaitForExit(60000)
        if ($exited) { $promptChild.Process.WaitForExit() } else { Stop-TestPwshProcess $promptChild }
        $stdout = $promptChild.StdOut.Result
        $stderr = $promptChild.StdErr.Result
        $lines = @($stdout -split "`n" | Where-Object { $_ -match '^(Sqlite|PostgreSql)=' })
    }

    It 'fails fast with ConfirmationRequired, naming -Force' {
        $exited | Should -BeTrue -Because 'a non-interactive run must never wait for an answer'
        $promptClock.Elapsed.TotalSeconds | Should -BeLessThan 60
        $lines.Count | Should -Be $promptDbs.Count -Because $stderr
        foreach ($l in $lines) {
            $id, $ms, $message = ($l -replace '^\w+=', '') -split '\|', 3
            $id | Should -BeLike 'ConfirmationRequired*'
            [int]$ms | Should -BeLessThan 10000 -Because 'the call must fail at once (the database is opened first)'
            $message | Should -Match '-Force'
        }
    }

    It 'removes nothing' {
        foreach ($db in $promptDbs) {
            @(Get-TestJobRow -Database $db).Count | Should -Be 1
            @(Get-TestJobErrorRow -Database $db).Count | Should -Be 1
        }
    }
}
