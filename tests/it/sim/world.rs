//! The simulation's desired world: a small set of applications and clients the driver edits,
//! written as manifest files the daemon watches.

use std::collections::BTreeMap;
use std::path::Path;

use rand::rngs::StdRng;
use rand::Rng;

/// A client as the manifests say.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientModel {
    /// Which version of its redirect URI.
    pub uri: u32,
}

/// An application as the manifests say.
#[derive(Debug, Clone, PartialEq)]
pub struct AppModel {
    /// Which version of its description.
    pub description: u32,
    /// Clients by number (named `Client N`).
    pub clients: BTreeMap<u32, ClientModel>,
}

/// The applications, by number (`app-N`, named `App N`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct World {
    /// The applications.
    pub apps: BTreeMap<u32, AppModel>,
    next: u32,
}

/// The most applications the driver keeps.
const MAX_APPS: usize = 5;
/// The most clients per application.
const MAX_CLIENTS: u32 = 3;

impl World {
    /// One or two applications to start with.
    pub fn initial(rng: &mut StdRng) -> Self {
        let mut world = World::default();
        for _ in 0..rng.gen_range(1..=2) {
            world.add_app(rng);
        }
        world
    }

    fn add_app(&mut self, rng: &mut StdRng) -> u32 {
        let n = self.next;
        self.next += 1;
        let clients = (0..rng.gen_range(1..=2))
            .map(|c| (c, ClientModel { uri: 0 }))
            .collect();
        self.apps.insert(
            n,
            AppModel {
                description: 0,
                clients,
            },
        );
        n
    }

    /// One edit, described for the trace.
    pub fn edit(&mut self, rng: &mut StdRng) -> String {
        let keys: Vec<u32> = self.apps.keys().copied().collect();
        let pick = keys[rng.gen_range(0..keys.len())];
        match rng.gen_range(0..6) {
            0 if self.apps.len() < MAX_APPS => format!("add app-{}", self.add_app(rng)),
            1 if self.apps.len() > 1 => {
                self.apps.remove(&pick);
                format!("remove app-{pick}")
            }
            2 => {
                let app = self.apps.get_mut(&pick).expect("picked");
                let free = (0..MAX_CLIENTS).find(|c| !app.clients.contains_key(c));
                match free {
                    Some(c) => {
                        app.clients.insert(c, ClientModel { uri: 0 });
                        format!("add app-{pick} Client {c}")
                    }
                    None => self.describe(pick),
                }
            }
            3 if self.apps[&pick].clients.len() > 1 => {
                let app = self.apps.get_mut(&pick).expect("picked");
                let c = *app.clients.keys().next_back().expect("two clients");
                app.clients.remove(&c);
                format!("remove app-{pick} Client {c}")
            }
            4 => {
                let app = self.apps.get_mut(&pick).expect("picked");
                let c = *app.clients.keys().next().expect("a client");
                app.clients.get_mut(&c).expect("picked").uri += 1;
                format!("edit app-{pick} Client {c} redirect_uris")
            }
            _ => self.describe(pick),
        }
    }

    fn describe(&mut self, pick: u32) -> String {
        self.apps.get_mut(&pick).expect("picked").description += 1;
        format!("edit app-{pick} app_description")
    }

    /// The application's manifest.
    pub fn yaml(n: u32, app: &AppModel) -> String {
        let mut text = format!(
            "apiVersion: tenantsync/v1\nkind: Application\nmetadata: {{name: app-{n}}}\nspec:\n  app_name: App {n}\n  app_description: description {}\n  clients:\n",
            app.description
        );
        for (c, client) in &app.clients {
            text.push_str(&format!(
                "    - name: Client {c}\n      redirect_uris: [https://app{n}-c{c}.example.com/cb/{}]\n",
                client.uri
            ));
        }
        text
    }

    /// Writes one file per application into `dir` (and removes the files of applications
    /// gone), each atomically, as an editor saving would.
    pub fn write(&self, dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let keep = stem
                .strip_prefix("app-")
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| self.apps.contains_key(&n));
            if !keep {
                std::fs::remove_file(&path).unwrap();
            }
        }
        for (n, app) in &self.apps {
            let path = dir.join(format!("app-{n}.yaml"));
            let text = Self::yaml(*n, app);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                let temp = dir.join(format!(".app-{n}.tmp"));
                std::fs::write(&temp, text).unwrap();
                std::fs::rename(&temp, &path).unwrap();
            }
        }
    }
}
