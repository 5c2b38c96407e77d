import SuperAgentApp

SuperAgentCLI.main(CommandLine.arguments)
