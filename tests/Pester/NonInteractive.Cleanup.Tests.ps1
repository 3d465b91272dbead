# Remove-UnusedEncryptionKey is ConfirmImpact High: in a host that cannot prompt (a scheduled task, a runbook) it
# must fail at once with ConfirmationRequired and remove nothing, and with -Force it must complete.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $null = Import-SecretsPSUnderTest
    $script:folder = New-TestFolder
    $script:key = New-TestKeyFile -Folder $folder
    1..3 | ForEach-Object { $null = Invoke-KeyRotation -Path $key -Force -WarningAction SilentlyContinue }
    $values = 1..5 | ForEach-Object { "otp-$_" } | Protect-EncryptedValue -Path $key
    $script:db = Join-Path $folder 'app.db'
    $values | python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table users (id integer primary key, secret text)'); c.executemany('insert into users (secret) values (?)', [(l.strip(),) for l in sys.stdin if l.strip()]); c.commit()" $db
    $script:command = "Import-Module `$env:SECRETSPS_MODULE; try { Remove-UnusedEncryptionKey -Path '$key' -Table users -Column secret -ConnectionString '$db' -Keep 1 @@FORCE@@ -ErrorAction Stop | ForEach-Object { 'OUTCOME ' + `$_.Outcome } } catch { 'ERROR ' + `$_.FullyQualifiedErrorId; 'MESSAGE ' + `$_.Exception.Message }"
}

AfterAll {
    if ($script:savedEnvironment) { Restore-KeyEnvironment $script:savedEnvironment }
}

Describe 'Remove-UnusedEncryptionKey in a non-interactive host' {
    It 'fails fast with ConfirmationRequired, naming -Force, and removes nothing, without -Force' {
        $before = Get-FileHashString $key
        $run = Invoke-FreshPwsh -NonInteractive -TimeoutSeconds 60 -Command ($command.Replace('@@FORCE@@', ''))
        $run.StdOut | Should -Match 'ERROR ConfirmationRequired'
        $run.StdOut | Should -Match '-Force'
        Get-FileHashString $key | Should -Be $before
        @(Get-EncryptionKey -Path $key).Count | Should -Be 4
    }

    It 'completes with -Force: the three unused versions are removed' {
        $run = Invoke-FreshPwsh -NonInteractive -TimeoutSeconds 60 -Command ($command.Replace('@@FORCE@@', '-Force'))
        $run.StdOut | Should -Match 'OUTCOME Succeeded'
        @(Get-EncryptionKey -Path $key).Version | Should -Be @('v4')
    }
}
