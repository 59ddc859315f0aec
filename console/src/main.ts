import { DefaultApolloClient } from '@vue/apollo-composable'
import ElementPlus from 'element-plus'
import * as Icons from '@element-plus/icons-vue'
import 'element-plus/dist/index.css'
import { createApp } from 'vue'
import App from './App.vue'
import { apolloClient } from './apollo'
import { i18n } from './i18n'
import { router } from './router'
import './style.css'

const app = createApp(App)
for (const [name, component] of Object.entries(Icons)) app.component(name, component)
app.provide(DefaultApolloClient, apolloClient)
app.use(i18n).use(router).use(ElementPlus)
app.mount('#app')
