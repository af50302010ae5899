# One image with every process of the suite, each published to /app/<name> (the names of deploy/services.json);
# SP_APP and SP_ASSEMBLY choose the one a container runs (docker-compose.yml sets them per service), e.g.
#   docker build -t scheduledposts . && docker run -e SP_APP=sandbox -e SP_ASSEMBLY=ScheduledPosts.Sandbox.dll scheduledposts
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# The project files alone first, so the restore layer is reused until a dependency changes.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY protos/ScheduledPosts.Contracts.csproj protos/
COPY services/shared/ServiceDefaults/ScheduledPosts.ServiceDefaults.csproj services/shared/ServiceDefaults/
COPY services/shared/ServiceDefaults.Data/ScheduledPosts.ServiceDefaults.Data.csproj services/shared/ServiceDefaults.Data/
COPY services/shared/ServiceDefaults.Messaging/ScheduledPosts.ServiceDefaults.Messaging.csproj services/shared/ServiceDefaults.Messaging/
COPY services/sandbox/ScheduledPosts.Sandbox.csproj services/sandbox/
COPY services/scheduling/ScheduledPosts.Scheduling.csproj services/scheduling/
COPY services/publisher/ScheduledPosts.Publisher.csproj services/publisher/
COPY services/webhooks/ScheduledPosts.Webhooks.csproj services/webhooks/
COPY gateway/ScheduledPosts.Gateway.csproj gateway/
ARG APPS="sandbox=services/sandbox/ScheduledPosts.Sandbox.csproj scheduling=services/scheduling/ScheduledPosts.Scheduling.csproj publisher=services/publisher/ScheduledPosts.Publisher.csproj webhooks=services/webhooks/ScheduledPosts.Webhooks.csproj gateway=gateway/ScheduledPosts.Gateway.csproj"
RUN set -e; for app in $APPS; do dotnet restore "${app#*=}"; done
COPY . .
RUN set -e; for app in $APPS; do dotnet publish "${app#*=}" -c Release --no-restore -o "/app/${app%%=*}" /p:UseAppHost=false; done

FROM mcr.microsoft.com/dotnet/aspnet:10.0
ENV ASPNETCORE_ENVIRONMENT=Production
COPY --from=build /app /app
# Where compose mounts the media volume: a new volume takes this directory's owner, so the app user can write it.
RUN mkdir -p /data/media && chown "$APP_UID" /data/media
USER $APP_UID
# Each app's folder is its content root (appsettings.json).
ENTRYPOINT ["sh", "-c", "cd \"/app/$SP_APP\" && exec dotnet \"$SP_ASSEMBLY\""]
