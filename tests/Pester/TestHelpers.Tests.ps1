BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $PSStyle.OutputRendering = 'PlainText'
}

Describe 'The test helpers' {

    Context 'Invoke-FreshPwsh' {
        It 'kills a pwsh that hangs past -TimeoutSeconds and fails' {
            $pidFile = Join-Path (New-TestFolder) 'child.pid'
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $err = { Invoke-FreshPwsh -NonInteractive -TimeoutSeconds 3 -Command "Set-Content -LiteralPath '$pidFile' -Value `$PID; Start-Sleep -Seconds 60" } | Should -Throw -PassThru
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 15
            $err.Exception.Message | Should -Match 'did not finish within 3 s'
            if (Test-Path -LiteralPath $pidFile) {
                $child = Get-Process -Id ([int](Get-Content -LiteralPath $pidFile)) -ErrorAction Ignore
                $child | Should -BeNullOrEmpty -Because 'the hung process was killed, not left running'
            }
        }
    }

    Context 'Get-FileHashString' {
        BeforeAll {
            $folder = New-TestFolder
            [IO.File]::WriteAllText((Join-Path $folder 'a.txt'), 'a')
        }

        It 'hashes a file as the SHA-256 of its bytes' {
            Get-FileHashString (Join-Path $folder 'a.txt') | Should -Be ([Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([Text.Encoding]::UTF8.GetBytes('a'))))
        }

        It 'ignores an empty lock file but shows a non-empty one, a new file, a hidden file and a new folder' {
            $before = Get-FileHashString $folder
            $null = New-Item -ItemType File -Path (Join-Path $folder 'a.txt.lock')
            Get-FileHashString $folder | Should -Be $before
            [IO.File]::WriteAllText((Join-Path $folder 'a.txt.lock'), 'x')
            Get-FileHashString $folder | Should -Not -Be $before
            Remove-Item (Join-Path $folder 'a.txt.lock') -Force
            [IO.File]::WriteAllText((Join-Path $folder '.a.txt.tmp-123'), '')
            Get-FileHashString $folder | Should -Not -Be $before
            Remove-Item (Join-Path $folder '.a.txt.tmp-123') -Force
            $null = New-Item -ItemType Directory -Path (Join-Path $folder 'sub')
            Get-FileHashString $folder | Should -Not -Be $before
        }
    }
}
