#Requires -Version 7.4
<#
    Issue #17, help examples you can paste: the code of every example Get-Help -Examples shows parses with the PowerShell
    parser (no sample table or prompt mixed into it), every SecretsPS command it names exists, and every parameter it
    gives a SecretsPS command is one that command has, so the help cannot drift from the cmdlets.
#>

BeforeDiscovery {
    $modulePath = if ($env:SECRETSPS_MODULE) { $env:SECRETSPS_MODULE } else { Join-Path $PSScriptRoot '../../out/SecretsPS/SecretsPS.psd1' }
    Import-Module $modulePath
    $script:examples = @(
        foreach ($command in Get-Command -Module SecretsPS | Sort-Object Name) {
            $n = 0
            foreach ($example in @((Get-Help $command.Name -Examples).examples.example | Where-Object { $_ })) {
                $n++
                @{ Command = $command.Name; Number = $n; Title = "$($example.title)".Trim(' -'); Code = "$($example.code)" }
            }
        }
    )
}

BeforeAll {
    $modulePath = if ($env:SECRETSPS_MODULE) { $env:SECRETSPS_MODULE } else { Join-Path $PSScriptRoot '../../out/SecretsPS/SecretsPS.psd1' }
    Import-Module $modulePath
    $script:moduleCommands = @{}
    foreach ($c in Get-Command -Module SecretsPS) { $moduleCommands[$c.Name] = $c }
    # Nouns that only SecretsPS uses: a command with one of them that the module does not export is a command the help invents.
    $script:moduleNouns = @($moduleCommands.Values.Noun | Sort-Object -Unique)

    function Get-ExampleCommand {
        # The commands an example's code calls by name, with the parameters each is given.
        param([System.Management.Automation.Language.Ast] $Ast)
        foreach ($call in $Ast.FindAll({ param($a) $a -is [System.Management.Automation.Language.CommandAst] }, $true)) {
            $name = $call.GetCommandName()
            if (-not $name) { continue }
            [pscustomobject]@{
                Name       = $name
                Parameters = @($call.CommandElements | Where-Object { $_ -is [System.Management.Automation.Language.CommandParameterAst] } | ForEach-Object ParameterName)
                Line       = $call.Extent.StartLineNumber
            }
        }
    }
}

Describe 'Help examples' {
    It 'every SecretsPS cmdlet has examples to check' {
        @($examples).Count | Should -BeGreaterOrEqual 30
    }

    It '<Command> example <Number> (<Title>) parses with no error' -ForEach $examples {
        $tokens = $null; $errors = $null
        $null = [System.Management.Automation.Language.Parser]::ParseInput($Code, [ref]$tokens, [ref]$errors)
        @($errors | ForEach-Object { "line $($_.Extent.StartLineNumber): $($_.Message)" }) | Should -BeNullOrEmpty
        # Pasted code has no prompt or sample output in it.
        $Code | Should -Not -Match '(?m)^\s*PS[^>\n]*>\s'
        $Code | Should -Not -Match '(?m)^\s*-{2,}(\s+-{2,})+\s*$'
    }

    It '<Command> example <Number> (<Title>) names only commands and parameters SecretsPS has' -ForEach $examples {
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($Code, [ref]$null, [ref]$null)
        $common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
        $calls = @(Get-ExampleCommand $ast)
        $calls.Name | Should -Contain $Command -Because 'an example shows the cmdlet it documents'
        foreach ($call in $calls) {
            $noun = ($call.Name -split '-', 2)[1]
            if (-not $moduleCommands.ContainsKey($call.Name)) {
                $noun | Should -Not -BeIn $moduleNouns -Because "line $($call.Line): $($call.Name) is not a SecretsPS command"
                continue
            }
            $cmd = $moduleCommands[$call.Name]
            $known = @($cmd.Parameters.Keys) + @($cmd.Parameters.Values.Aliases) + $common
            foreach ($p in $call.Parameters) {
                $p | Should -BeIn $known -Because "line $($call.Line): $($call.Name) has no parameter -$p"
            }
        }
    }
}
