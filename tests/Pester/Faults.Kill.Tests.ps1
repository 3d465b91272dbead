#Requires -Version 7.4
<#
    Fault injection, "unattended and under fire" (processes killed): Start-Reencryption on a SQLite table of 100,000
    rows (on /dev/shm) whose runner is killed with SIGKILL at many points, each resume killed again, until a last resume
    completes; and SIGTERM, which must commit the batch in hand, pause the job and end the process.

    Each test ends with the independent reader (tests/interop/secretsps_ref.py through Get-TestColumnCheck) checking
    every row: at the target version, decrypting to its original plaintext (so none was double-encrypted), none lost.
    Between kills the job row and the table are checked by plain SQL: what is committed is exactly the rows up to the
    cursor, and the counters say so.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'FaultHelpers.psm1') -Force
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $script:savedConnection = $env:SECRETSPS_CONNECTION_STRING
    $env:SECRETSPS_CONNECTION_STRING = $null
    $script:modulePath = (Get-Module SecretsPS).Path
    $script:me = "$([Environment]::MachineName):$PID"
    $script:folder = New-TestDatabaseFolder
    $script:runners = [Collections.Generic.List[object]]::new()
    $script:readers = [Collections.Generic.List[object]]::new()

    # The fixture is made once (~7-10 s for 100,000 Fernet values and the load); each test copies the file.
    $script:rowCount = 100000
    $script:key = New-TestRotatedKeyFile -Folder (Join-Path $folder 'keys')
    $script:plain = New-TestPlaintext -Count $rowCount -Tag 'kill'
    $values = @($plain | Protect-EncryptedValue -Path $key -Version v1)
    $script:template = New-TestDatabase -Provider Sqlite -Folder $folder
    New-TestSecretTable -Database $template -Table usuarios -Values $values
    $values = $null

    # A smaller copy (the first 30,000 rows) for the SIGTERM tests, whose full check then costs a third.
    $script:smallCount = 30000
    $script:smallTemplate = Copy-TestDatabase $template
    $null = Invoke-TestSql -Database $smallTemplate -Sql "DELETE FROM usuarios WHERE id > $smallCount; VACUUM"
    $script:smallPlain = [object[]]$plain[0..($smallCount - 1)]

    function New-Reader([object] $Db) { $r = Start-FaultSqliteReader -Path $Db.Path; $readers.Add($r); $r }

    function New-Runner([object] $Db, [int] $BatchSize, [int] $CommitEvery, [string] $Extra = '', [string] $Table = 'usuarios') {
        $text = "Start-Reencryption -Table $Table -Column otp -ConnectionString '$($Db.ConnectionString)' -Path '$key' -Resume " +
            "-BatchSize $BatchSize -CommitEvery $CommitEvery -ErrorAction Stop $Extra | ForEach-Object { 'RESULT=' + `$_.Status + ',' + `$_.Processed + ',' + `$_.Id }"
        $r = Start-FaultRunner -Module $modulePath -Folder $folder -Script $text
        $runners.Add($r)
        $r
    }

    function Assert-CommittedPrefix([object] $Db, [object] $Job, [long] $Total, [string] $Because, [object] $Reader) {
        # The committed state is exactly "rows 1..last_key at v2, the rest at v1", and the counters say so.
        $state = Get-FaultColumnState -Database $Db -Table usuarios -Version v2 -LastKey $Job.last_key -Reader $Reader
        $state.Rows | Should -Be $Total -Because "no row may be lost ($Because)"
        $state.AtVersion | Should -Be $Job.processed -Because "the committed counter must match the committed rows ($Because)"
        $state.Other | Should -Be ($Total - $Job.processed) -Because "every other row is still at v1 ($Because)"
        $state.NotDoneBelowCursor | Should -Be 0 -Because "every row up to the cursor is committed at v2 ($Because)"
        $state.DoneAboveCursor | Should -Be 0 -Because "no row beyond the cursor is committed ($Because)"
        $Job.skipped | Should -Be 0 -Because "a resume continues from the cursor: it never meets a row it already did ($Because)"
        $Job.errors | Should -Be 0 -Because $Because
        if ($Job.processed -gt 0) { $Job.last_key | Should -Be ([string]$Job.processed) -Because $Because }
    }
}

AfterAll {
    foreach ($r in $script:runners) { Stop-TestPwshProcess $r }
    foreach ($r in $script:readers) { Stop-FaultSqliteReader $r }
    Remove-TestDatabaseFolder $script:folder
    Restore-KeyEnvironment $script:savedEnvironment
    $env:SECRETSPS_CONNECTION_STRING = $script:savedConnection
}

Describe 'Start-Reencryption killed with SIGKILL again and again (SQLite, 100,000 rows)' {
    BeforeAll {
        $db = Copy-TestDatabase $template
        $reader = New-Reader $db
        $seed = [Random]::new().Next()
        $rng = [Random]::new($seed)
        Write-Host "SIGKILL test: random seed $seed"
        # Each runner pages and commits differently: one batch per transaction, several, and more rows than a batch.
        $settings = @(@(50, 50), @(200, 1000), @(500, 500), @(100, 2500), @(1000, 1000), @(250, 750), @(64, 4000))
        # Runs killed a random 0-300 ms after they were told to start (start-up, key derivation, claim, first batch).
        $earlyKills = @(3, 8)
        $countKills = 10
        $planned = $countKills + $earlyKills.Count

        $kills = [Collections.Generic.List[object]]::new()
        $failures = [Collections.Generic.List[string]]::new()
        $jobIds = [Collections.Generic.HashSet[long]]::new()
        $previous = 0L
        $next = New-Runner $db 50 50
        $clock = [Diagnostics.Stopwatch]::StartNew()
        for ($i = 0; $i -lt $planned; $i++) {
            $runner = $next
            $s = $settings[($i + 1) % $settings.Count]
            $next = New-Runner $db $s[0] $s[1]      # starts (imports the module) while this one runs
            Set-FaultRunnerGo $runner
            $early = $i -in $earlyKills
            if ($early) {
                Start-Sleep -Milliseconds $rng.Next(0, 300)
            } else {
                $target = $previous + $rng.Next(1500, 6000)
                $null = Wait-TestCondition -TimeoutSeconds 90 -IntervalMs 30 -Because "run $i to commit $target rows" -Condition {
                    if ($runner.Process.HasExited) {
                        throw "Run $i ended before it was killed (exit $($runner.Process.ExitCode)): $($runner.StdErr.Result)$($runner.StdOut.Result)"
                    }
                    $j = Get-FaultJob -Database $db -Reader $reader
                    $j -and $j.processed -ge $target
                }
            }
            $before = $runner.Process.HasExited
            Send-FaultSignal $runner KILL
            $job = Get-FaultJob -Database $db -Reader $reader
            $point = [pscustomobject]@{
                Run = $i; Early = $early; Pid = $runner.Id; ExitedBeforeKill = $before
                Processed = if ($job) { $job.processed } else { 0 }; Status = if ($job) { $job.status } else { '(no job yet)' }
                Owner = if ($job) { $job.owner } else { '' }; Batch = "$($settings[$i % $settings.Count] -join '/')"
            }
            $kills.Add($point)
            if ($before) { $failures.Add("run $i had already ended before kill -9: $($runner.StdErr.Result)") }
            if ($job) {
                $null = $jobIds.Add($job.id)
                try { Assert-CommittedPrefix $db $job $rowCount "after kill $i" $reader } catch { $failures.Add("after kill ${i}: $($_.Exception.Message)") }
                if ($job.processed -lt $previous) { $failures.Add("after kill ${i}: processed went back from $previous to $($job.processed)") }
                if ($job.status -ne 'running') { $failures.Add("after kill ${i}: status '$($job.status)', expected 'running' (killed runs cannot write)") }
                if (-not $early -and $job.owner -notlike "$([Environment]::MachineName):$($runner.Id):w*") {
                    $failures.Add("after kill ${i}: owner '$($job.owner)' is not the killed runner $($runner.Id) (the resume was not taken over)")
                }
                $previous = $job.processed
            }
        }

        # The last resume runs to the end.
        Set-FaultRunnerGo $next
        $finalEnded = Wait-FaultRunnerExit $next -TimeoutSeconds 120
        $finalResult = Get-FaultRunnerValue $next 'RESULT'
        $finalJob = Get-FaultJob -Database $db -Reader $reader
        $allJobs = @(Get-TestJobRow -Database $db)
        $elapsed = $clock.Elapsed
        $distinct = @($kills | Where-Object { -not $_.Early } | ForEach-Object Processed | Select-Object -Unique).Count
        Write-Host "kill points tried: $($kills.Count) ($distinct distinct committed counts; early kills at runs $($earlyKills -join ', '); $([int]$elapsed.TotalSeconds) s)"
        Write-Host ("kill points (run:committed rows@batch/commit size): " + (($kills | ForEach-Object { "$($_.Run):$($_.Processed)@$($_.Batch)$(if ($_.Early) { '(early)' })" }) -join ' '))
        $check = Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $plain -Version v2
    }

    It 'killed the runner at least 10 different points (increasing committed counts), each time while it was running' {
        $kills.Count | Should -BeGreaterOrEqual 10
        $distinct | Should -BeGreaterOrEqual 10
        @($kills | Where-Object ExitedBeforeKill).Count | Should -Be 0
        $previous | Should -BeLessThan $rowCount -Because 'the last kill must still be in the middle of the run'
    }

    It 'after every kill, the committed rows are exactly the rows up to the cursor and the counters match them' {
        $failures | Should -BeNullOrEmpty
    }

    It 'every resume continued the same job (no new job, no JobAlreadyRunning)' {
        $jobIds.Count | Should -Be 1
        $allJobs.Count | Should -Be 1
    }

    It 'the final resume completes: finished, every row processed once, none skipped, no errors' {
        $finalEnded | Should -BeTrue -Because 'the last run must end by itself'
        $next.Process.ExitCode | Should -Be 0 -Because $next.StdErr.Result
        $finalResult | Should -Be "Finished,$rowCount,$($finalJob.id)"
        $finalJob.status | Should -Be 'finished'
        $finalJob.processed | Should -Be $rowCount
        $finalJob.skipped | Should -Be 0 -Because 'no row was re-encrypted twice or met twice'
        $finalJob.errors | Should -Be 0
        $finalJob.owner | Should -BeLike "$([Environment]::MachineName):$($next.Id):w*"
    }

    It 'the independent reader: every row at v2, decrypting to its original plaintext (none double-encrypted, none lost)' {
        $check.ReaderError | Should -BeNullOrEmpty
        $check.Rows | Should -Be $rowCount
        $check.Nulls | Should -Be 0
        $check.ByVersion['v2'] | Should -Be $rowCount
        $check.ByVersion.Count | Should -Be 1
        $check.Mismatches | Should -Be 0 -Because "rows $($check.FirstMismatches -join ', ') must decrypt to their own plaintext ($($check.Reader))"
    }
}

Describe 'Start-Reencryption and SIGTERM (SQLite)' {
    Context 'kill -TERM of the runner in the middle of a run' {
        BeforeAll {
            $db = Copy-TestDatabase $smallTemplate
            $reader = New-Reader $db
            # One transaction for the whole run (-CommitEvery far beyond the table): nothing but the claim is committed before
            # the signal, so every re-encrypted row after it is "the batch in hand", committed by the stop.
            # Pages of one row keep the run going long after the first row, whatever the machine's speed: the crypto runs on all
            # cores and overlaps the writes, so larger pages could finish 30,000 rows before the signal lands.
            $runner = New-Runner $db 1 10000000
            Set-FaultRunnerGo $runner
            $journal = "$($db.Path)-journal"
            $null = Wait-TestCondition -TimeoutSeconds 60 -IntervalMs 15 -Because 'the runner to claim the job and start writing rows' -Condition {
                if ($runner.Process.HasExited) { throw "The runner ended early (exit $($runner.Process.ExitCode)): $($runner.StdErr.Result)" }
                # The claim is committed (job row 'running'); then the rollback journal appears with the first row written.
                $j = Get-FaultJob -Database $db -Reader $reader
                $j -and $j.status -eq 'running' -and (Test-Path -LiteralPath $journal)
            }
            Start-Sleep -Milliseconds 50
            $seen = Get-FaultJob -Database $db -Reader $reader
            Send-FaultSignal $runner TERM
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $ended = Wait-FaultRunnerExit $runner -TimeoutSeconds 20
            $exitSeconds = $clock.Elapsed.TotalSeconds
            if (-not $ended) { Stop-TestPwshProcess $runner }
            $paused = Get-FaultJob -Database $db -Reader $reader
        }

        It 'the process ends promptly, with a non-zero exit code and a message naming SIGTERM and -Resume' {
            $ended | Should -BeTrue -Because 'SIGTERM must end the runner'
            $exitSeconds | Should -BeLessThan 10
            $runner.Process.ExitCode | Should -Not -Be 0 -Because 'a scheduler must see that the run did not complete'
            $runner.StdErr.Result | Should -Match 'SIGTERM'
            $runner.StdErr.Result | Should -Match '-Resume'
            $result = Get-FaultRunnerValue $runner 'RESULT'
            if ($result) { $result | Should -Match '^Paused,' }
        }

        It "commits the batch in hand and marks the job 'paused'" {
            $paused.status | Should -Be 'paused'
            $paused.message | Should -Match 'SIGTERM'
            $seen.processed | Should -Be 0 -Because 'nothing is committed before the signal (one transaction)'
            $paused.processed | Should -BeGreaterThan 0 -Because 'the rows in hand when the signal came are committed, not rolled back'
            $paused.processed | Should -BeLessThan $smallCount
            Assert-CommittedPrefix $db $paused $smallCount 'after SIGTERM' $reader
        }

        It '-Resume finishes the job and the independent reader finds every row at v2 with its plaintext' {
            $r = @(Start-Reencryption -Table usuarios -Column otp -ConnectionString $db.ConnectionString -Path $key -Resume -BatchSize 1000 -CommitEvery 1000)
            $r.Count | Should -Be 1
            $r[0].Id | Should -Be $paused.id
            $r[0].Status.ToString() | Should -Be 'Finished'
            $r[0].Processed | Should -Be $smallCount
            $r[0].Skipped | Should -Be 0
            $r[0].Errors | Should -Be 0
            $check = Get-TestColumnCheck -Database $db -Table usuarios -KeyFile $key -Expected $smallPlain -Version v2
            $check.ReaderError | Should -BeNullOrEmpty
            $check.Rows | Should -Be $smallCount
            $check.ByVersion['v2'] | Should -Be $smallCount
            $check.Mismatches | Should -Be 0 -Because "rows $($check.FirstMismatches -join ', ') must decrypt to their own plaintext"
        }
    }

    Context 'kill -TERM of a script that re-encrypts several tables in a loop' {
        BeforeAll {
            $db = Copy-TestDatabase $smallTemplate
            $reader = New-Reader $db
            $null = Invoke-TestSql -Database $db -Sql 'CREATE TABLE clientes (id INTEGER PRIMARY KEY, otp TEXT); INSERT INTO clientes (id, otp) SELECT id, otp FROM usuarios WHERE id <= 2000'
            # A script as an operator writes it (no $ErrorActionPreference = 'Stop'): one table after the other.
            $text = "foreach (`$t in 'usuarios', 'clientes') { Start-Reencryption -Table `$t -Column otp -ConnectionString '$($db.ConnectionString)' -Path '$key' -Resume -BatchSize 100 -CommitEvery 100 | Out-Null }; 'ALL-TABLES-DONE'"
            $runner = Start-FaultRunner -Module $modulePath -Folder $folder -Script $text
            $runners.Add($runner)
            Set-FaultRunnerGo $runner
            $null = Wait-TestCondition -TimeoutSeconds 60 -IntervalMs 30 -Because 'the runner to commit rows' -Condition {
                if ($runner.Process.HasExited) { throw "The runner ended early (exit $($runner.Process.ExitCode)): $($runner.StdErr.Result)" }
                $j = Get-FaultJob -Database $db -Reader $reader
                $j -and $j.processed -ge 1000
            }
            Send-FaultSignal $runner TERM
            $ended = Wait-FaultRunnerExit $runner -TimeoutSeconds 20
            if (-not $ended) { Stop-TestPwshProcess $runner }
            $first = Get-FaultJob -Database $db -Reader $reader -Table usuarios
            $second = Get-FaultJob -Database $db -Reader $reader -Table clientes
        }

        It "pauses the table in hand" {
            $first.status | Should -Be 'paused'
            Assert-CommittedPrefix $db $first $smallCount 'after SIGTERM' $reader
        }

        It 'ends the process: the script does not go on to the next table, and the exit code is not 0' {
            # SIGTERM asks the process to end (as Ctrl+C stops a whole script): the next table must not be started, the rest of
            # the script must not run, and a scheduler must not be told that it succeeded.
            $problems = @(
                if (-not $ended) { 'the process was still running 20 s after SIGTERM' }
                if ($second) { "a job was started on the next table after SIGTERM (job $($second.id) on clientes, status '$($second.status)', $($second.processed) rows re-encrypted)" }
                if ($runner.StdOut.Result -match 'ALL-TABLES-DONE') { 'the rest of the script ran after SIGTERM (it printed ALL-TABLES-DONE)' }
                if ($ended -and $runner.Process.ExitCode -eq 0) { 'the process exited with code 0 after SIGTERM' }
            )
            $problems | Should -BeNullOrEmpty
        }
    }
}

Describe 'Start-Reencryption and SIGTERM outside pwsh''s own runspace (an application, VS Code, [powershell]::Create())' {
    Context 'where SIGTERM ends the process (ShouldExitOnSigterm)' {
        BeforeAll {
            # In a fresh pwsh: its console host in its own runspace, then runspaces that are not the process's.
            $probe = @'
Import-Module $env:SECRETSPS_MODULE
$m = [SecretsPS.Commands.StartReencryptionCommand].GetMethod('ShouldExitOnSigterm', [Reflection.BindingFlags]'NonPublic,Static')
'CONSOLE=' + $m.Invoke($null, @($Host, [runspace]::DefaultRunspace))
$ps = [powershell]::Create()
'HOSTED=' + ($ps.AddScript('param($m) $m.Invoke($null, @($Host, [runspace]::DefaultRunspace))').AddArgument($m).Invoke() -join ',')
$ps.Dispose()
$rs = [runspacefactory]::CreateRunspace($Host); $rs.Open()
$ps = [powershell]::Create(); $ps.Runspace = $rs
'CONSOLEHOST-OTHER-RUNSPACE=' + ($ps.AddScript('param($m) $m.Invoke($null, @($Host, [runspace]::DefaultRunspace))').AddArgument($m).Invoke() -join ',')
$ps.Dispose(); $rs.Dispose()
'THREADJOB=' + (Start-ThreadJob { param($m) $m.Invoke($null, @($Host, [runspace]::DefaultRunspace)) } -ArgumentList $m | Receive-Job -Wait -AutoRemoveJob)
'PARALLEL=' + (1 | ForEach-Object -Parallel { ($using:m).Invoke($null, @($Host, [runspace]::DefaultRunspace)) })
'@
            $run = Invoke-FreshPwsh -NonInteractive -TimeoutSeconds 60 -Command $probe
            $values = @{}
            foreach ($line in $run.StdOut -split '\r?\n') { if ($line -match '^([A-Z-]+)=(.*)$') { $values[$Matches[1]] = $Matches[2].Trim() } }
        }

        It 'pwsh''s console host in its own runspace: yes' {
            $values['CONSOLE'] | Should -Be 'True' -Because "stdout: $($run.StdOut) stderr: $($run.StdErr)"
        }

        It '<Name>: no' -ForEach @(
            @{ Name = 'HOSTED'; Because = '[powershell]::Create() has its own host and runspace' }
            @{ Name = 'CONSOLEHOST-OTHER-RUNSPACE'; Because = 'a runspace made with the console host is still not the process''s' }
            @{ Name = 'THREADJOB'; Because = 'a thread job' }
            @{ Name = 'PARALLEL'; Because = 'ForEach-Object -Parallel' }
        ) {
            $values[$Name] | Should -Be 'False' -Because "$Because (stdout: $($run.StdOut) stderr: $($run.StdErr))"
        }
    }

    Context 'kill -TERM while Start-Reencryption runs in a hosted runspace of the runner' {
        BeforeAll {
            $db = Copy-TestDatabase $smallTemplate
            $reader = New-Reader $db
            $inner = "try { Start-Reencryption -Table usuarios -Column otp -ConnectionString '$($db.ConnectionString)' -Path '$key' -Resume -BatchSize 1 -CommitEvery 10000000 -ErrorAction Stop | Out-Null; 'INNER=completed' } " +
                "catch { 'INNER=' + `$_.FullyQualifiedErrorId + '|' + `$_.CategoryInfo.Category }"
            $text = "`$ps = [powershell]::Create(); `$null = `$ps.AddScript(`"Import-Module '$modulePath'`").AddStatement().AddScript(@'`n$inner`n'@); " +
                "try { `$ps.Invoke() | ForEach-Object { `$_ } } catch { 'INNER=invoke-threw|' + `$_.Exception.GetType().FullName + '|' + `$_.Exception.Message }; " +
                "'ALIVE=yes'; exit 0"
            $runner = Start-FaultRunner -Module $modulePath -Folder $folder -Script $text
            $runners.Add($runner)
            Set-FaultRunnerGo $runner
            $journal = "$($db.Path)-journal"
            $null = Wait-TestCondition -TimeoutSeconds 60 -IntervalMs 15 -Because 'the hosted run to claim the job and start writing rows' -Condition {
                if ($runner.Process.HasExited) { throw "The runner ended early (exit $($runner.Process.ExitCode)): $($runner.StdOut.Result) $($runner.StdErr.Result)" }
                $j = Get-FaultJob -Database $db -Reader $reader
                $j -and $j.status -eq 'running' -and (Test-Path -LiteralPath $journal)
            }
            Start-Sleep -Milliseconds 50
            Send-FaultSignal $runner TERM
            $ended = Wait-FaultRunnerExit $runner -TimeoutSeconds 30
            if (-not $ended) { Stop-TestPwshProcess $runner }
            $paused = Get-FaultJob -Database $db -Reader $reader
        }

        It 'the command stops with the terminating error Terminated (OperationStopped), and the process is not ended by it' {
            $ended | Should -BeTrue -Because 'the runner ends on its own once the hosted command returns'
            Get-FaultRunnerValue $runner 'INNER' | Should -Match '^Terminated,[^|]*\|OperationStopped$' -Because "stdout: $($runner.StdOut.Result) stderr: $($runner.StdErr.Result)"
            Get-FaultRunnerValue $runner 'ALIVE' | Should -Be 'yes' -Because 'the application that hosts the runspace goes on'
            $runner.Process.ExitCode | Should -Be 0 -Because 'the exit code is the host''s, not 143 from Environment.Exit'
        }

        It "commits the batch in hand and marks the job 'paused'" {
            $paused.status | Should -Be 'paused'
            $paused.message | Should -Match 'SIGTERM'
            $paused.processed | Should -BeGreaterThan 0
            Assert-CommittedPrefix $db $paused $smallCount 'after SIGTERM in a hosted runspace' $reader
        }
    }
}
